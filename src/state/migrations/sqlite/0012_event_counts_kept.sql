-- event_counts kept by the insert of each event, in the same statement (a lone event stays one
-- statement, atomic on its own), and counted once from the events written before it.
CREATE TRIGGER `events_counted` AFTER INSERT ON `events` WHEN NEW.`agent_id` IS NOT NULL
  BEGIN
    INSERT INTO `event_counts` (`agent_id`, `type`, `severity`, `n`) VALUES (NEW.`agent_id`, NEW.`type`, NEW.`severity`, 1)
      ON CONFLICT (`agent_id`, `type`, `severity`) DO UPDATE SET `n` = `n` + 1;
  END;
--> statement-breakpoint
INSERT INTO `event_counts` (`agent_id`, `type`, `severity`, `n`)
SELECT `agent_id`, `type`, `severity`, count(*) FROM `events` WHERE `agent_id` IS NOT NULL GROUP BY `agent_id`, `type`, `severity`;
