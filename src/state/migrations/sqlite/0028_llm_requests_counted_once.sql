-- An agent's llm.request events are counted from llm_totals, no longer in event_counts (a cost each call paid):
-- each is written with its ledger row, in its transaction, and that row's settling counts it in
-- llm_totals already, so event_counts' page was a second count of the same call in every call's
-- commit (a WAL frame a call). Which rows an event announces: schema.ts, ANNOUNCED_LEDGER_SQL;
-- StateManager.eventCounts adds them back by status, with the event's severity.
DROP TRIGGER `events_counted`;
--> statement-breakpoint
CREATE TRIGGER `events_counted` AFTER INSERT ON `events` WHEN NEW.`agent_id` IS NOT NULL AND NEW.`type` != 'llm.request'
  BEGIN
    INSERT INTO `event_counts` (`agent_id`, `type`, `severity`, `n`) VALUES (NEW.`agent_id`, NEW.`type`, NEW.`severity`, 1)
      ON CONFLICT (`agent_id`, `type`, `severity`) DO UPDATE SET `n` = `n` + 1;
  END;
--> statement-breakpoint
DELETE FROM `event_counts` WHERE `type` = 'llm.request';
