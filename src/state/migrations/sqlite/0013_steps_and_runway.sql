CREATE TABLE `llm_chains` (
	`agent_id` text NOT NULL,
	`chain` text NOT NULL,
	`calls` integer NOT NULL,
	`cost_micros` integer NOT NULL,
	PRIMARY KEY(`agent_id`, `chain`)
);
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
);
--> statement-breakpoint
CREATE INDEX `llm_steps_cost` ON `llm_steps` (`agent_id`,`cost_micros`,`step`);--> statement-breakpoint
ALTER TABLE `llm_requests` ADD `step` integer;--> statement-breakpoint
ALTER TABLE `llm_requests` ADD `chain` text;