-- llm_steps and llm_chains are WITHOUT ROWID (drizzle cannot declare it: schema.ts says so): each
-- upsert on the money path touches one B-tree, its key, and no second index.
CREATE TABLE `llm_chains` (
	`agent_id` text NOT NULL,
	`chain` text NOT NULL,
	`calls` integer NOT NULL,
	`cost_micros` integer NOT NULL,
	PRIMARY KEY(`agent_id`, `chain`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `llm_steps` (
	`agent_id` text NOT NULL,
	`step` integer NOT NULL,
	`calls` integer NOT NULL,
	`prompt_tokens` integer NOT NULL,
	`completion_tokens` integer NOT NULL,
	`cost_micros` integer NOT NULL,
	`first_ms` integer NOT NULL,
	`last_ms` integer NOT NULL,
	PRIMARY KEY(`agent_id`, `step`)
) WITHOUT ROWID;
--> statement-breakpoint
ALTER TABLE `llm_requests` ADD `step` integer;--> statement-breakpoint
ALTER TABLE `llm_requests` ADD `chain` text;