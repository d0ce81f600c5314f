-- The cost report's rollups (so a report reads a few rows, never the ledger), filled from llm_spend, which they replace (0018):
-- llm_totals, an agent's ledger per provider, model and status over all time, and llm_running, its
-- running totals per minute (a bucket of the cost report or the timeline's overview is the
-- difference of two reads at its edges). Both WITHOUT ROWID (drizzle cannot declare it: schema.ts
-- says so): an agent's rows lie together in key order.
CREATE TABLE `llm_running` (
	`agent_id` text NOT NULL,
	`minute` integer NOT NULL,
	`requests` integer NOT NULL,
	`errors` integer NOT NULL,
	`cost_micros` integer NOT NULL,
	`last_charged_ms` integer,
	PRIMARY KEY(`agent_id`, `minute`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `llm_totals` (
	`agent_id` text NOT NULL,
	`provider` text NOT NULL,
	`model` text NOT NULL,
	`status` text NOT NULL,
	`requests` integer NOT NULL,
	`prompt_tokens` integer NOT NULL,
	`completion_tokens` integer NOT NULL,
	`cost_micros` integer NOT NULL,
	PRIMARY KEY(`agent_id`, `provider`, `model`, `status`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `llm_totals` SELECT `agent_id`, `provider`, `model`, `status`, sum(`requests`), sum(`prompt_tokens`), sum(`completion_tokens`), sum(`cost_micros`) FROM `llm_spend` GROUP BY 1, 2, 3, 4;
--> statement-breakpoint
INSERT INTO `llm_running`
  SELECT `agent_id`, `minute`,
      sum(sum(`requests`)) OVER w,
      sum(sum(CASE WHEN `status` = 'ok' THEN 0 ELSE `requests` END)) OVER w,
      sum(sum(`cost_micros`)) OVER w,
      max(max(`last_charged_ms`)) OVER w
    FROM `llm_spend` GROUP BY `agent_id`, `minute`
    WINDOW w AS (PARTITION BY `agent_id` ORDER BY `minute`);
