-- mcp_totals: the MCP tools/call rows of tool_calls counted per server, tool and agent, kept by the
-- insert of each row in the same statement (as event_counts is by each event's), and counted once
-- from the rows written before it. A refusal is a row with no tier (the cage refused the call); an
-- error one that has a tier and failed (status >= 400) or whose tool said isError (tool_error).
CREATE TABLE `mcp_totals` (
	`server` text NOT NULL,
	`tool` text NOT NULL,
	`agent_id` text NOT NULL,
	`calls` integer NOT NULL,
	`errors` integer NOT NULL,
	`refusals` integer NOT NULL,
	`last_ts` text NOT NULL,
	PRIMARY KEY(`server`, `tool`, `agent_id`)
);
--> statement-breakpoint
CREATE TRIGGER `tool_calls_mcp` AFTER INSERT ON `tool_calls` WHEN NEW.`method` = 'tools/call' AND NEW.`agent_id` IS NOT NULL
  BEGIN
    INSERT INTO `mcp_totals` (`server`, `tool`, `agent_id`, `calls`, `errors`, `refusals`, `last_ts`)
      VALUES (NEW.`service`, NEW.`path`, NEW.`agent_id`, 1,
        CASE WHEN NEW.`tier` IS NOT NULL AND (NEW.`status` >= 400 OR NEW.`reason` = 'tool_error') THEN 1 ELSE 0 END,
        CASE WHEN NEW.`tier` IS NULL THEN 1 ELSE 0 END,
        NEW.`ts`)
      ON CONFLICT (`server`, `tool`, `agent_id`) DO UPDATE SET
        `calls` = `calls` + 1,
        `errors` = `errors` + excluded.`errors`,
        `refusals` = `refusals` + excluded.`refusals`,
        `last_ts` = max(`last_ts`, excluded.`last_ts`);
  END;
--> statement-breakpoint
INSERT INTO `mcp_totals` (`server`, `tool`, `agent_id`, `calls`, `errors`, `refusals`, `last_ts`)
SELECT `service`, `path`, `agent_id`, count(*),
    sum(CASE WHEN `tier` IS NOT NULL AND (`status` >= 400 OR `reason` = 'tool_error') THEN 1 ELSE 0 END),
    sum(CASE WHEN `tier` IS NULL THEN 1 ELSE 0 END),
    max(`ts`)
  FROM `tool_calls` WHERE `method` = 'tools/call' AND `agent_id` IS NOT NULL GROUP BY `service`, `path`, `agent_id`;
