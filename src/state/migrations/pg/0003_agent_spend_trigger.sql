-- agent_spend (schema-panel.ts) follows llm_requests by itself: after each INSERT statement, one
-- grouped upsert over the rows that statement actually inserted (the transition table holds only
-- those: a row skipped by ON CONFLICT DO NOTHING is not counted twice). Ingest stays one statement
-- per batch, and the fleet's agent list reads each agent's spend from one row instead of summing
-- its ledger. Keys are taken in order so two batches never wait on each other in a cycle.
-- Written by hand: a trigger is not something a drizzle table can say.
CREATE FUNCTION iron_agent_spend_add() RETURNS trigger LANGUAGE plpgsql AS $$
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
  FOR EACH STATEMENT EXECUTE FUNCTION iron_agent_spend_add();
--> statement-breakpoint
-- A database that already holds calls starts with their totals (one scan, at migration only).
INSERT INTO agent_spend (runtime_id, agent_id, calls, errors, prompt_tokens, completion_tokens, cost_micros, last_call_at)
SELECT runtime_id, agent_id, count(*), count(*) FILTER (WHERE status <> 'ok'), sum(prompt_tokens), sum(completion_tokens), sum(cost_micros), max(ts)
  FROM llm_requests
 GROUP BY runtime_id, agent_id
ON CONFLICT DO NOTHING;
