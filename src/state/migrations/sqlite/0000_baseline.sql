CREATE TABLE `agents` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`script` text,
	`args` text DEFAULT '[]' NOT NULL,
	`status` text NOT NULL,
	`pid` integer,
	`supervisor_pid` integer,
	`created_at` text NOT NULL,
	`started_at` text,
	`ended_at` text,
	`exit_code` integer,
	`exit_signal` text,
	`restarts` integer DEFAULT 0 NOT NULL,
	`progress_done` integer DEFAULT 0 NOT NULL,
	`progress_total` integer,
	`progress_unit` text DEFAULT 'items' NOT NULL,
	`limit_micros` integer,
	`environment` text DEFAULT 'development' NOT NULL,
	`progress_succeeded` integer,
	`progress_failed` integer
);
--> statement-breakpoint
CREATE TABLE `api_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`role` text NOT NULL,
	`agent_id` text,
	`hash` text NOT NULL,
	`created_at` text NOT NULL,
	`revoked_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_tokens_hash_unique` ON `api_tokens` (`hash`);--> statement-breakpoint
CREATE TABLE `breakers` (
	`service` text PRIMARY KEY NOT NULL,
	`snapshot` text NOT NULL,
	`tiers` text DEFAULT '{}' NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `checkpoints` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`agent_id` text NOT NULL,
	`created_at` text NOT NULL,
	`state` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `checkpoints_agent_id` ON `checkpoints` (`agent_id`,`id`);--> statement-breakpoint
CREATE TABLE `events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ts` text NOT NULL,
	`agent_id` text,
	`type` text NOT NULL,
	`severity` text NOT NULL,
	`message` text NOT NULL,
	`data` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_agent_seq` ON `events` (`agent_id`,`seq`);--> statement-breakpoint
CREATE INDEX `events_agent_type` ON `events` (`agent_id`,`type`,`seq`) WHERE type IN ('agent.started', 'agent.exited', 'agent.restarting', 'pii.detected', 'tool.refused');--> statement-breakpoint
CREATE TABLE `llm_requests` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ts` text NOT NULL,
	`agent_id` text NOT NULL,
	`endpoint` text NOT NULL,
	`provider` text NOT NULL,
	`model` text NOT NULL,
	`stream` integer DEFAULT false NOT NULL,
	`status` text NOT NULL,
	`http_status` integer,
	`prompt_tokens` integer DEFAULT 0 NOT NULL,
	`completion_tokens` integer DEFAULT 0 NOT NULL,
	`cost_micros` integer DEFAULT 0 NOT NULL,
	`reserved_micros` integer DEFAULT 0 NOT NULL,
	`usage_source` text DEFAULT 'provider' NOT NULL,
	`latency_ms` real,
	`first_byte_ms` real,
	`redactions` integer DEFAULT 0 NOT NULL,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `llm_requests_agent` ON `llm_requests` (`agent_id`,`id`);--> statement-breakpoint
CREATE TABLE `pii_audit` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ts` text NOT NULL,
	`agent_id` text,
	`location` text NOT NULL,
	`request_ref` text,
	`type` text NOT NULL,
	`risk` text NOT NULL,
	`severity` text NOT NULL,
	`action` text NOT NULL,
	`confidence` real NOT NULL,
	`start` integer NOT NULL,
	`end` integer NOT NULL,
	`value_hmac` text NOT NULL,
	`value_sealed` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `pii_audit_agent` ON `pii_audit` (`agent_id`,`id`);--> statement-breakpoint
CREATE INDEX `pii_audit_hmac` ON `pii_audit` (`value_hmac`);--> statement-breakpoint
CREATE TABLE `secret_audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`secret_name` text,
	`operation` text NOT NULL,
	`requester_role` text NOT NULL,
	`requester` text NOT NULL,
	`agent_id` text,
	`success` integer NOT NULL,
	`error_message` text,
	`timestamp` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `secret_audit_name` ON `secret_audit_log` (`secret_name`,`id`);--> statement-breakpoint
CREATE TABLE `secrets` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`environment` text NOT NULL,
	`salt` blob NOT NULL,
	`nonce` blob NOT NULL,
	`ciphertext` blob NOT NULL,
	`kdf` text NOT NULL,
	`masked_sealed` blob NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`deleted_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `secrets_live_name` ON `secrets` (`name`,`environment`) WHERE deleted_at IS NULL;--> statement-breakpoint
CREATE INDEX `secrets_environment` ON `secrets` (`environment`,`name`);--> statement-breakpoint
CREATE TABLE `tool_cache` (
	`key` text PRIMARY KEY NOT NULL,
	`service` text NOT NULL,
	`status` integer NOT NULL,
	`headers` text DEFAULT '{}' NOT NULL,
	`body` blob NOT NULL,
	`stored_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `tool_cache_service` ON `tool_cache` (`service`,`stored_at`);--> statement-breakpoint
CREATE TABLE `tool_calls` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ts` text NOT NULL,
	`agent_id` text,
	`service` text NOT NULL,
	`method` text NOT NULL,
	`path` text NOT NULL,
	`status` integer NOT NULL,
	`tier` text,
	`reason` text NOT NULL,
	`detail` text,
	`upstream_status` integer,
	`latency_ms` real NOT NULL,
	`upstream_ms` real,
	`bytes` integer DEFAULT 0 NOT NULL,
	`redactions` integer DEFAULT 0 NOT NULL,
	`fault` integer DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE INDEX `tool_calls_service` ON `tool_calls` (`service`,`id`);--> statement-breakpoint
CREATE INDEX `tool_calls_agent` ON `tool_calls` (`agent_id`,`id`);--> statement-breakpoint
CREATE TABLE `users` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`role` text NOT NULL,
	`password_hash` text NOT NULL,
	`created_at` text NOT NULL,
	`removed_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_live_name` ON `users` (`name`) WHERE removed_at IS NULL;--> statement-breakpoint
CREATE TABLE `vault_meta` (
	`id` integer PRIMARY KEY NOT NULL,
	`salt` blob NOT NULL,
	`nonce` blob NOT NULL,
	`ciphertext` blob NOT NULL,
	`kdf` text NOT NULL,
	`created_at` text NOT NULL
);
