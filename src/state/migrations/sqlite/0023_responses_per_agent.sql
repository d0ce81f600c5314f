-- Written by hand: responses keyed by (agent_id, id), their items by (agent_id, response_id). The
-- migrator runs with foreign keys on inside a transaction (PRAGMA foreign_keys cannot be turned
-- off there), so the parent is rebuilt first and the new items point at the new parent: dropping
-- the old tables then cascades into nothing, and the renames carry the reference along.
CREATE TABLE `__new_responses` (
	`id` text NOT NULL,
	`agent_id` text NOT NULL,
	`model` text NOT NULL,
	`previous_response_id` text,
	`input_tokens` integer DEFAULT 0 NOT NULL,
	`output_tokens` integer DEFAULT 0 NOT NULL,
	`body` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	PRIMARY KEY(`agent_id`, `id`)
);
--> statement-breakpoint
INSERT INTO `__new_responses`("id", "agent_id", "model", "previous_response_id", "input_tokens", "output_tokens", "body", "created_at", "expires_at") SELECT "id", "agent_id", "model", "previous_response_id", "input_tokens", "output_tokens", "body", "created_at", "expires_at" FROM `responses`;--> statement-breakpoint
CREATE TABLE `__new_response_items` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`response_id` text NOT NULL,
	`agent_id` text NOT NULL,
	`item_id` text NOT NULL,
	`kind` text NOT NULL,
	`body` text NOT NULL,
	FOREIGN KEY (`agent_id`,`response_id`) REFERENCES `__new_responses`(`agent_id`,`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
INSERT INTO `__new_response_items`("seq", "response_id", "agent_id", "item_id", "kind", "body") SELECT "seq", "response_id", "agent_id", "item_id", "kind", "body" FROM `response_items`;--> statement-breakpoint
DROP TABLE `response_items`;--> statement-breakpoint
DROP TABLE `responses`;--> statement-breakpoint
ALTER TABLE `__new_responses` RENAME TO `responses`;--> statement-breakpoint
ALTER TABLE `__new_response_items` RENAME TO `response_items`;--> statement-breakpoint
CREATE INDEX `responses_expiry` ON `responses` (`expires_at`);--> statement-breakpoint
CREATE INDEX `response_items_response` ON `response_items` (`agent_id`,`response_id`,`seq`);--> statement-breakpoint
CREATE INDEX `response_items_item` ON `response_items` (`agent_id`,`item_id`);
--> statement-breakpoint
-- Copying no rows still left a sequence row behind, which a new file does not have.
DELETE FROM `sqlite_sequence` WHERE `name` = 'response_items' AND NOT EXISTS (SELECT 1 FROM `response_items`);
