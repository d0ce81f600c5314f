CREATE TABLE `event_counts` (
	`agent_id` text NOT NULL,
	`type` text NOT NULL,
	`severity` text NOT NULL,
	`n` integer NOT NULL,
	PRIMARY KEY(`agent_id`, `type`, `severity`)
);
