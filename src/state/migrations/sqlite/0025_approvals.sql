-- Approvals a policy rule asked of a person: decided once. A decided row may only be
-- marked used (an ask-ahead grant taken by its call); nothing is ever deleted.
CREATE TABLE `approvals` (
	`id` text PRIMARY KEY NOT NULL,
	`agent_id` text NOT NULL,
	`kind` text NOT NULL,
	`service` text NOT NULL,
	`tool` text NOT NULL,
	`method` text,
	`args` text NOT NULL,
	`fingerprint` text NOT NULL,
	`rule` text NOT NULL,
	`approvers` text NOT NULL,
	`ahead` integer DEFAULT false NOT NULL,
	`note` text,
	`requested_at` text NOT NULL,
	`expires_at` text NOT NULL,
	`status` text NOT NULL,
	`decided_by` text,
	`decided_at` text,
	`reason` text,
	`used_at` text
);
--> statement-breakpoint
CREATE INDEX `approvals_pending` ON `approvals` (`status`) WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX `approvals_agent` ON `approvals` (`agent_id`,`requested_at`);--> statement-breakpoint
CREATE INDEX `approvals_requested` ON `approvals` (`requested_at`);--> statement-breakpoint
CREATE TRIGGER `approvals_decided_once` BEFORE UPDATE ON `approvals` WHEN OLD.`status` != 'pending' AND (NEW.`status` IS NOT OLD.`status` OR NEW.`decided_by` IS NOT OLD.`decided_by` OR NEW.`decided_at` IS NOT OLD.`decided_at` OR NEW.`reason` IS NOT OLD.`reason` OR NEW.`args` IS NOT OLD.`args` OR NEW.`rule` IS NOT OLD.`rule` OR NEW.`agent_id` IS NOT OLD.`agent_id` OR NEW.`approvers` IS NOT OLD.`approvers`)
  BEGIN SELECT RAISE(ABORT, 'an approval is decided once: a decided approval cannot be changed'); END;
--> statement-breakpoint
CREATE TRIGGER `approvals_no_delete` BEFORE DELETE ON `approvals`
  BEGIN SELECT RAISE(ABORT, 'approvals are kept: DELETE is not allowed'); END;
