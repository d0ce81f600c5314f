-- Each agent's stored Responses and Conversations state (for the per-agent quota on what a call may store): bytes as stored and items,
-- kept by triggers on the four tables (cascaded deletes fire them too), filled once here.
CREATE TABLE `stored_usage` (
	`agent_id` text PRIMARY KEY NOT NULL,
	`bytes` integer DEFAULT 0 NOT NULL,
	`items` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TRIGGER `responses_stored_in` AFTER INSERT ON `responses` BEGIN
  INSERT INTO `stored_usage` (`agent_id`, `bytes`, `items`) VALUES (NEW.`agent_id`, length(CAST(NEW.`body` AS BLOB)), 1)
    ON CONFLICT (`agent_id`) DO UPDATE SET `bytes` = `bytes` + excluded.`bytes`, `items` = `items` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `responses_stored_out` AFTER DELETE ON `responses` BEGIN
  UPDATE `stored_usage` SET `bytes` = `bytes` - length(CAST(OLD.`body` AS BLOB)), `items` = `items` - 1 WHERE `agent_id` = OLD.`agent_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `responses_stored_changed` AFTER UPDATE OF `body` ON `responses` BEGIN
  UPDATE `stored_usage` SET `bytes` = `bytes` + length(CAST(NEW.`body` AS BLOB)) - length(CAST(OLD.`body` AS BLOB)) WHERE `agent_id` = NEW.`agent_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `response_items_stored_in` AFTER INSERT ON `response_items` BEGIN
  INSERT INTO `stored_usage` (`agent_id`, `bytes`, `items`) VALUES (NEW.`agent_id`, length(CAST(NEW.`body` AS BLOB)), 1)
    ON CONFLICT (`agent_id`) DO UPDATE SET `bytes` = `bytes` + excluded.`bytes`, `items` = `items` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `response_items_stored_out` AFTER DELETE ON `response_items` BEGIN
  UPDATE `stored_usage` SET `bytes` = `bytes` - length(CAST(OLD.`body` AS BLOB)), `items` = `items` - 1 WHERE `agent_id` = OLD.`agent_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `response_items_stored_changed` AFTER UPDATE OF `body` ON `response_items` BEGIN
  UPDATE `stored_usage` SET `bytes` = `bytes` + length(CAST(NEW.`body` AS BLOB)) - length(CAST(OLD.`body` AS BLOB)) WHERE `agent_id` = NEW.`agent_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `conversations_stored_in` AFTER INSERT ON `conversations` BEGIN
  INSERT INTO `stored_usage` (`agent_id`, `bytes`, `items`) VALUES (NEW.`agent_id`, length(CAST(NEW.`metadata` AS BLOB)), 1)
    ON CONFLICT (`agent_id`) DO UPDATE SET `bytes` = `bytes` + excluded.`bytes`, `items` = `items` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `conversations_stored_out` AFTER DELETE ON `conversations` BEGIN
  UPDATE `stored_usage` SET `bytes` = `bytes` - length(CAST(OLD.`metadata` AS BLOB)), `items` = `items` - 1 WHERE `agent_id` = OLD.`agent_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `conversations_stored_changed` AFTER UPDATE OF `metadata` ON `conversations` BEGIN
  UPDATE `stored_usage` SET `bytes` = `bytes` + length(CAST(NEW.`metadata` AS BLOB)) - length(CAST(OLD.`metadata` AS BLOB)) WHERE `agent_id` = NEW.`agent_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `conversation_items_stored_in` AFTER INSERT ON `conversation_items` BEGIN
  INSERT INTO `stored_usage` (`agent_id`, `bytes`, `items`) VALUES (NEW.`agent_id`, length(CAST(NEW.`body` AS BLOB)), 1)
    ON CONFLICT (`agent_id`) DO UPDATE SET `bytes` = `bytes` + excluded.`bytes`, `items` = `items` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `conversation_items_stored_out` AFTER DELETE ON `conversation_items` BEGIN
  UPDATE `stored_usage` SET `bytes` = `bytes` - length(CAST(OLD.`body` AS BLOB)), `items` = `items` - 1 WHERE `agent_id` = OLD.`agent_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `conversation_items_stored_changed` AFTER UPDATE OF `body` ON `conversation_items` BEGIN
  UPDATE `stored_usage` SET `bytes` = `bytes` + length(CAST(NEW.`body` AS BLOB)) - length(CAST(OLD.`body` AS BLOB)) WHERE `agent_id` = NEW.`agent_id`;
END;
--> statement-breakpoint
INSERT INTO `stored_usage` (`agent_id`, `bytes`, `items`) SELECT `agent_id`, sum(b), count(*) FROM (SELECT `agent_id`, length(CAST(`body` AS BLOB)) AS b FROM `responses` UNION ALL SELECT `agent_id`, length(CAST(`body` AS BLOB)) AS b FROM `response_items` UNION ALL SELECT `agent_id`, length(CAST(`metadata` AS BLOB)) AS b FROM `conversations` UNION ALL SELECT `agent_id`, length(CAST(`body` AS BLOB)) AS b FROM `conversation_items`) GROUP BY `agent_id`;
