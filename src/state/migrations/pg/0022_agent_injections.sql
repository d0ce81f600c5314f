-- Prompt injections found per agent (agent_spend.injections): its runtime's injection.detected
-- events (src/injection), counted at ingest by the statement trigger of 0003/0019, made again
-- here with the new count (written by hand, as 0019 was), and counted once for what is held.
ALTER TABLE "agent_spend" ADD COLUMN "injections" bigint DEFAULT 0 NOT NULL;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION iron_agent_spend_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO agent_spend AS s (runtime_id, agent_id, refused, injections, last_event_at)
  SELECT runtime_id, agent_id,
         count(*) FILTER (WHERE type IN ('budget.refused', 'tool.refused') OR (type = 'policy.decision' AND data ~ '"action": ?"(deny|rate_limited)"')),
         count(*) FILTER (WHERE type = 'injection.detected'),
         max(ts)
    FROM iron_new_events
   WHERE agent_id IS NOT NULL
   GROUP BY runtime_id, agent_id
   ORDER BY runtime_id, agent_id
  ON CONFLICT (runtime_id, agent_id) DO UPDATE SET
    refused = s.refused + excluded.refused,
    injections = s.injections + excluded.injections,
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
UPDATE agent_spend AS s SET injections = e.n
  FROM (SELECT runtime_id, agent_id, count(*) AS n FROM events WHERE agent_id IS NOT NULL AND type = 'injection.detected' GROUP BY runtime_id, agent_id) AS e
 WHERE s.runtime_id = e.runtime_id AND s.agent_id = e.agent_id;
