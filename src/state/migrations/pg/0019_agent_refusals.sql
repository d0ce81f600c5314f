-- Refused calls counted per agent, an outcome of their own, (agent_spend.refused), as src/domain/outcomes/refusals.ts
-- defines them: events budget.refused and tool.refused, policy.decision with action deny or
-- rate_limited, and ledger rows `blocked` (PII), which no longer count as errors. The two
-- statement triggers of 0003 are made again with the new counts; written by hand, as 0003 was.
-- A decision's action is matched in its JSON text, never cast: a runtime's malformed `data`
-- must not fail its batch here.
-- budget_refusals: the calls each central budget refused, per window and runtime, from the
-- budget.refused events that name it (their `central` key, matched in the text as above), counted
-- only where the panel told the runtime of that budget window (budget_coverage, this incarnation
-- of the budget): a runtime cannot count refusals on a budget that is not its own. The budgets
-- named are key-locked (FOR KEY SHARE, in id order) before their refusal rows are written, so an
-- admin's delete, which locks the budget and then cascades into those rows, waits for the batch
-- (or the batch for it) instead of deadlocking with the batch's later lease charge.
-- spend_hourly/spend_daily.refused: the LLM calls refused per bucket (the budget's refusals and the
-- rows PII blocked), summed at ingest in the batch's own statements (ingest.store.ts).
CREATE TABLE "budget_refusals" (
	"budget_id" text NOT NULL,
	"window_start" bigint NOT NULL,
	"runtime_id" text NOT NULL,
	"refused" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "budget_refusals_pkey" PRIMARY KEY("budget_id","window_start","runtime_id")
);
--> statement-breakpoint
ALTER TABLE "agent_spend" ADD COLUMN "refused" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "spend_daily" ADD COLUMN "refused" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "spend_hourly" ADD COLUMN "refused" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "budget_refusals" ADD CONSTRAINT "budget_refusals_budget_id_budgets_id_fk" FOREIGN KEY ("budget_id") REFERENCES "public"."budgets"("id") ON DELETE cascade ON UPDATE no action;
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
  WITH named AS MATERIALIZED (
    SELECT m[1] AS budget_id, m[2]::bigint AS window_start, e.runtime_id
      FROM iron_new_events AS e
      CROSS JOIN LATERAL regexp_match(e.data, '"central": ?"([a-z0-9._-]{1,63})@([0-9]{1,15})"') AS m
     WHERE e.type = 'budget.refused'
  ), held AS MATERIALIZED (
    SELECT b.id, b.created_at FROM budgets AS b WHERE b.id IN (SELECT budget_id FROM named) ORDER BY b.id FOR KEY SHARE
  )
  INSERT INTO budget_refusals AS r (budget_id, window_start, runtime_id, refused)
  SELECT n.budget_id, n.window_start, n.runtime_id, count(*)
    FROM named AS n
    JOIN held AS h ON h.id = n.budget_id
   WHERE EXISTS (SELECT 1 FROM budget_coverage AS c
                  WHERE c.runtime_id = n.runtime_id AND c.budget_id = n.budget_id AND c.window_start = n.window_start AND c.budget_created_at = h.created_at)
   GROUP BY 1, 2, 3
   ORDER BY 1, 2, 3
  ON CONFLICT (budget_id, window_start, runtime_id) DO UPDATE SET refused = r.refused + excluded.refused;
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
--> statement-breakpoint
INSERT INTO budget_refusals (budget_id, window_start, runtime_id, refused)
SELECT m[1], m[2]::bigint, e.runtime_id, count(*)
  FROM events AS e
  CROSS JOIN LATERAL regexp_match(e.data, '"central": ?"([a-z0-9._-]{1,63})@([0-9]{1,15})"') AS m
  JOIN budgets AS b ON b.id = m[1]
 WHERE e.type = 'budget.refused'
   AND EXISTS (SELECT 1 FROM budget_coverage AS c
                WHERE c.runtime_id = e.runtime_id AND c.budget_id = m[1] AND c.window_start = m[2]::bigint AND c.budget_created_at = b.created_at)
 GROUP BY 1, 2, 3;
