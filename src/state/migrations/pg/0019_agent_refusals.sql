-- Issue 46: refused calls counted per agent (agent_spend.refused), as src/domain/outcomes/refusals.ts
-- defines them: events budget.refused and tool.refused, policy.decision with action deny or
-- rate_limited, and ledger rows `blocked` (PII), which no longer count as errors. The two
-- statement triggers of 0003 are made again with the new counts; written by hand, as 0003 was.
-- A decision's action is matched in its JSON text, never cast: a runtime's malformed `data`
-- must not fail its batch here.
ALTER TABLE "agent_spend" ADD COLUMN "refused" bigint DEFAULT 0 NOT NULL;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION iron_agent_spend_calls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO agent_spend AS s (runtime_id, agent_id, calls, errors, refused, prompt_tokens, completion_tokens, cost_micros, last_call_at)
  SELECT runtime_id, agent_id, count(*), count(*) FILTER (WHERE status NOT IN ('ok', 'blocked')), count(*) FILTER (WHERE status = 'blocked'),
         sum(prompt_tokens), sum(completion_tokens), sum(cost_micros), max(ts)
    FROM iron_new_requests
   GROUP BY runtime_id, agent_id
   ORDER BY runtime_id, agent_id
  ON CONFLICT (runtime_id, agent_id) DO UPDATE SET
    calls = s.calls + excluded.calls,
    errors = s.errors + excluded.errors,
    refused = s.refused + excluded.refused,
    prompt_tokens = s.prompt_tokens + excluded.prompt_tokens,
    completion_tokens = s.completion_tokens + excluded.completion_tokens,
    cost_micros = s.cost_micros + excluded.cost_micros,
    last_call_at = greatest(s.last_call_at, excluded.last_call_at);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION iron_agent_spend_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO agent_spend AS s (runtime_id, agent_id, refused, last_event_at)
  SELECT runtime_id, agent_id,
         count(*) FILTER (WHERE type IN ('budget.refused', 'tool.refused') OR (type = 'policy.decision' AND data ~ '"action": ?"(deny|rate_limited)"')),
         max(ts)
    FROM iron_new_events
   WHERE agent_id IS NOT NULL
   GROUP BY runtime_id, agent_id
   ORDER BY runtime_id, agent_id
  ON CONFLICT (runtime_id, agent_id) DO UPDATE SET
    refused = s.refused + excluded.refused,
    last_event_at = greatest(s.last_event_at, excluded.last_event_at);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
-- What is already held: blocked rows move from errors to refused, refusal events are counted (one scan, at migration only).
UPDATE agent_spend AS s SET errors = s.errors - b.n, refused = b.n
  FROM (SELECT runtime_id, agent_id, count(*) AS n FROM llm_requests WHERE status = 'blocked' GROUP BY runtime_id, agent_id) AS b
 WHERE s.runtime_id = b.runtime_id AND s.agent_id = b.agent_id;
--> statement-breakpoint
UPDATE agent_spend AS s SET refused = s.refused + e.n
  FROM (SELECT runtime_id, agent_id, count(*) AS n FROM events
         WHERE agent_id IS NOT NULL AND (type IN ('budget.refused', 'tool.refused') OR (type = 'policy.decision' AND data ~ '"action": ?"(deny|rate_limited)"'))
         GROUP BY runtime_id, agent_id) AS e
 WHERE s.runtime_id = e.runtime_id AND s.agent_id = e.agent_id;
