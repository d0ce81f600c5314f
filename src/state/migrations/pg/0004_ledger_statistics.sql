-- An agent runs on one runtime: agent_id says runtime_id. Without being told, the planner takes
-- the two conditions of "this agent on this runtime" as independent, expects a handful of rows
-- where an agent has thousands, and reads them all through a bitmap to sort them, instead of
-- walking the (runtime_id, agent_id, id) index backwards and stopping at the hundredth. These
-- statistics (gathered by ANALYZE, autovacuum's included) tell it. Written by hand: drizzle's
-- tables cannot say CREATE STATISTICS.
CREATE STATISTICS llm_requests_runtime_agent (dependencies, ndistinct) ON runtime_id, agent_id FROM llm_requests;
--> statement-breakpoint
CREATE STATISTICS events_runtime_agent (dependencies, ndistinct) ON runtime_id, agent_id FROM events;
--> statement-breakpoint
CREATE STATISTICS tool_calls_runtime_agent (dependencies, ndistinct) ON runtime_id, agent_id FROM tool_calls;
