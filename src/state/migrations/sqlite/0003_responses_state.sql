CREATE TABLE `response_items` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`response_id` text NOT NULL,
	`agent_id` text NOT NULL,
	`item_id` text NOT NULL,
	`kind` text NOT NULL,
	`body` text NOT NULL,
	FOREIGN KEY (`response_id`) REFERENCES `responses`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `response_items_response` ON `response_items` (`response_id`,`seq`);--> statement-breakpoint
CREATE INDEX `response_items_item` ON `response_items` (`agent_id`,`item_id`);--> statement-breakpoint
CREATE TABLE `responses` (
	`id` text PRIMARY KEY NOT NULL,
	`agent_id` text NOT NULL,
	`model` text NOT NULL,
	`previous_response_id` text,
	`input_tokens` integer DEFAULT 0 NOT NULL,
	`output_tokens` integer DEFAULT 0 NOT NULL,
	`body` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `responses_agent` ON `responses` (`agent_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `responses_expiry` ON `responses` (`expires_at`);