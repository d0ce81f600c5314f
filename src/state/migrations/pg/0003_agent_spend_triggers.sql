-- agent_spend (schema-panel.ts) follows llm_requests and events by itself: after each INSERT
-- statement, one grouped upsert over the rows that statement actually inserted (the transition
-- table holds only those: a row skipped by ON CONFLICT DO NOTHING is not counted twice). Ingest
-- stays one statement per batch and kind, and the fleet's agent list reads each agent's spend and
-- latest activity from one row instead of its ledger. Keys are taken in order, so two batches
-- never wait on each other in a cycle. Written by hand: a trigger is not something a drizzle
-- table can say.
CREATE FUNCTION iron_agent_spend_calls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO agent_spend AS s (runtime_id, agent_id, calls, errors, prompt_tokens, completion_tokens, cost_micros, last_call_at)
  SELECT runtime_id, agent_id, count(*), count(*) FILTER (WHERE status <> 'ok'), sum(prompt_tokens), sum(completion_tokens), sum(cost_micros), max(ts)
    FROM iron_new_requests
   GROUP BY runtime_id, agent_id
   ORDER BY runtime_id, agent_id
  ON CONFLICT (runtime_id, agent_id) DO UPDATE SET
    calls = s.calls + excluded.calls,
    errors = s.errors + excluded.errors,
    prompt_tokens = s.prompt_tokens + excluded.prompt_tokens,
    completion_tokens = s.completion_tokens + excluded.completion_tokens,
    cost_micros = s.cost_micros + excluded.cost_micros,
    last_call_at = greatest(s.last_call_at, excluded.last_call_at);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER llm_requests_agent_spend AFTER INSERT ON llm_requests
  REFERENCING NEW TABLE AS iron_new_requests
  FOR EACH STATEMENT EXECUTE FUNCTION iron_agent_spend_calls();
--> statement-breakpoint
CREATE FUNCTION iron_agent_spend_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO agent_spend AS s (runtime_id, agent_id, last_event_at)
  SELECT runtime_id, agent_id, max(ts)
    FROM iron_new_events
   WHERE agent_id IS NOT NULL
   GROUP BY runtime_id, agent_id
   ORDER BY runtime_id, agent_id
  ON CONFLICT (runtime_id, agent_id) DO UPDATE SET
    last_event_at = greatest(s.last_event_at, excluded.last_event_at);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER events_agent_spend AFTER INSERT ON events
  REFERENCING NEW TABLE AS iron_new_events
  FOR EACH STATEMENT EXECUTE FUNCTION iron_agent_spend_events();
--> statement-breakpoint
-- A database that already holds calls and events starts with their totals (one scan, at migration only).
INSERT INTO agent_spend (runtime_id, agent_id, calls, errors, prompt_tokens, completion_tokens, cost_micros, last_call_at)
SELECT runtime_id, agent_id, count(*), count(*) FILTER (WHERE status <> 'ok'), sum(prompt_tokens), sum(completion_tokens), sum(cost_micros), max(ts)
  FROM llm_requests
 GROUP BY runtime_id, agent_id;
--> statement-breakpoint
INSERT INTO agent_spend AS s (runtime_id, agent_id, last_event_at)
SELECT runtime_id, agent_id, max(ts) FROM events WHERE agent_id IS NOT NULL GROUP BY runtime_id, agent_id
ON CONFLICT (runtime_id, agent_id) DO UPDATE SET last_event_at = excluded.last_event_at;
