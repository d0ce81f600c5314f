-- llm_spend rebuilt WITHOUT ROWID: its rows are stored in key order (agent_id, minute, …), so an
-- agent's rollup is one run of pages, not a row on every page of the table (an agent's minutes
-- are written between every other agent's). drizzle cannot declare this (schema.ts says so at
-- llmSpend); the columns and the key are 0008's, unchanged.
CREATE TABLE `__new_llm_spend` (
	`agent_id` text NOT NULL,
	`minute` integer NOT NULL,
	`provider` text NOT NULL,
	`model` text NOT NULL,
	`status` text NOT NULL,
	`requests` integer NOT NULL,
	`prompt_tokens` integer NOT NULL,
	`completion_tokens` integer NOT NULL,
	`cost_micros` integer NOT NULL,
	`last_charged_ms` integer,
	PRIMARY KEY(`agent_id`, `minute`, `provider`, `model`, `status`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_llm_spend` SELECT `agent_id`, `minute`, `provider`, `model`, `status`, `requests`, `prompt_tokens`, `completion_tokens`, `cost_micros`, `last_charged_ms` FROM `llm_spend`;
--> statement-breakpoint
DROP TABLE `llm_spend`;
--> statement-breakpoint
ALTER TABLE `__new_llm_spend` RENAME TO `llm_spend`;
