CREATE TABLE `conversation_items` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`conversation_id` text NOT NULL,
	`agent_id` text NOT NULL,
	`item_id` text NOT NULL,
	`body` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`conversation_id`) REFERENCES `conversations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `conversation_items_conversation` ON `conversation_items` (`conversation_id`,`seq`);--> statement-breakpoint
CREATE INDEX `conversation_items_item` ON `conversation_items` (`agent_id`,`item_id`);--> statement-breakpoint
CREATE TABLE `conversations` (
	`id` text PRIMARY KEY NOT NULL,
	`agent_id` text NOT NULL,
	`metadata` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `conversations_agent` ON `conversations` (`agent_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `conversations_expiry` ON `conversations` (`expires_at`);