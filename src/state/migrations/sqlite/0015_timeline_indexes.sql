CREATE INDEX `events_timeline` ON `events` (`agent_id`,`ts`) WHERE type IN ('pii.detected', 'agent.started', 'agent.exited', 'agent.restarting', 'agent.paused', 'agent.resumed', 'budget.threshold', 'budget.exhausted', 'budget.refused', 'budget.runway', 'budget.changed', 'watch.loop', 'watch.stall', 'watch.spike', 'breaker.transition', 'tool.fallback');--> statement-breakpoint
CREATE INDEX `events_progress` ON `events` (`agent_id`,`ts`) WHERE type = 'agent.progress';--> statement-breakpoint
CREATE INDEX `llm_requests_agent_ts` ON `llm_requests` (`agent_id`,`ts`);--> statement-breakpoint
CREATE INDEX `tool_calls_agent_ts` ON `tool_calls` (`agent_id`,`ts`);--> statement-breakpoint
CREATE INDEX `tool_calls_agent_errors` ON `tool_calls` (`agent_id`,`ts`) WHERE status >= 400;