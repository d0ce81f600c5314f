-- Two indexes nothing reads, dropped: responses_agent and conversations_agent, by agent and creation
-- time. Every read of a response or conversation is by its id (and the agent), its items by their
-- parent or by (agent, item id), and the purge by expiry; so each stored Responses turn and each
-- conversation written paid an index page no query used.
DROP INDEX `conversations_agent`;--> statement-breakpoint
DROP INDEX `responses_agent`;