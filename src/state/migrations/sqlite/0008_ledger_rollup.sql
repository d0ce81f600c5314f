CREATE TABLE `llm_spend` (
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
);
--> statement-breakpoint
CREATE INDEX `llm_requests_pending` ON `llm_requests` (`id`) WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX `llm_requests_budgets` ON `llm_requests` (`budgets`,`cost_micros`) WHERE budgets IS NOT NULL;