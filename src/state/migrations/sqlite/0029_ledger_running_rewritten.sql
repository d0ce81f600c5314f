-- The ledger's triggers (0018) made again for llm_running, to cost each call less: an UPDATE first, the row's
-- minute and every later one taking the call in one range of the agent's key, and a minute not
-- there yet made from the one before it only then. Before, each call first built the new minute's
-- row from the one before it (two more seeks) only to find, nearly always, that the minute was
-- there. And a call PII blocked is not an error (a refusal, an outcome of its own;
-- src/domain/outcomes), as the dashboard's Cost panel and the panel already count it: `errors` is
-- the calls that ended neither `ok` nor `blocked`, and the running counts kept before are lowered
-- by the blocked calls up to each minute. The same sums otherwise (test/state/cost-rollups.test.ts);
-- llm_totals, llm_steps and llm_chains as they were.
DROP TRIGGER `llm_requests_rolled`;
--> statement-breakpoint
DROP TRIGGER `llm_requests_settled`;
--> statement-breakpoint
CREATE TRIGGER `llm_requests_rolled` AFTER INSERT ON `llm_requests` WHEN NEW.`status` != 'pending'
  BEGIN
    INSERT INTO `llm_totals` (`agent_id`, `provider`, `model`, `status`, `requests`, `prompt_tokens`, `completion_tokens`, `cost_micros`)
      VALUES (NEW.`agent_id`, NEW.`provider`, NEW.`model`, NEW.`status`, 1, NEW.`prompt_tokens`, NEW.`completion_tokens`, NEW.`cost_micros`)
      ON CONFLICT (`agent_id`, `provider`, `model`, `status`) DO UPDATE SET
        `requests` = `requests` + 1,
        `prompt_tokens` = `prompt_tokens` + excluded.`prompt_tokens`,
        `completion_tokens` = `completion_tokens` + excluded.`completion_tokens`,
        `cost_micros` = `cost_micros` + excluded.`cost_micros`;
    UPDATE `llm_running` SET
        `requests` = `requests` + 1,
        `errors` = `errors` + (NEW.`status` NOT IN ('ok', 'blocked')),
        `cost_micros` = `cost_micros` + NEW.`cost_micros`,
        `last_charged_ms` = CASE WHEN NEW.`cost_micros` > 0 THEN coalesce(max(`last_charged_ms`, coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0)), coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0)) ELSE `last_charged_ms` END
      WHERE `agent_id` = NEW.`agent_id` AND `minute` >= coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) / 60000 * 60000;
    INSERT INTO `llm_running` (`agent_id`, `minute`, `requests`, `errors`, `cost_micros`, `last_charged_ms`)
      SELECT NEW.`agent_id`, x.`minute`, coalesce(b.`requests`, 0) + 1, coalesce(b.`errors`, 0) + (NEW.`status` NOT IN ('ok', 'blocked')), coalesce(b.`cost_micros`, 0) + NEW.`cost_micros`,
          coalesce(max(b.`last_charged_ms`, x.`charged`), b.`last_charged_ms`, x.`charged`)
        FROM (SELECT ms / 60000 * 60000 AS `minute`, CASE WHEN NEW.`cost_micros` > 0 THEN ms END AS `charged`
          FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms)) AS x
        LEFT JOIN `llm_running` AS b ON b.`agent_id` = NEW.`agent_id` AND b.`minute` = (SELECT max(`minute`) FROM `llm_running` WHERE `agent_id` = NEW.`agent_id` AND `minute` < x.`minute`)
        WHERE NOT EXISTS (SELECT 1 FROM `llm_running` WHERE `agent_id` = NEW.`agent_id` AND `minute` = x.`minute`);
    INSERT INTO `llm_steps` (`agent_id`, `step`, `calls`, `prompt_tokens`, `completion_tokens`, `cost_micros`, `first_ms`, `last_ms`)
      SELECT NEW.`agent_id`, NEW.`step`, 1, NEW.`prompt_tokens`, NEW.`completion_tokens`, NEW.`cost_micros`, ms, ms
        FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms) WHERE NEW.`step` IS NOT NULL
      ON CONFLICT (`agent_id`, `step`) DO UPDATE SET
        `calls` = `calls` + 1,
        `prompt_tokens` = `prompt_tokens` + excluded.`prompt_tokens`,
        `completion_tokens` = `completion_tokens` + excluded.`completion_tokens`,
        `cost_micros` = `cost_micros` + excluded.`cost_micros`,
        `first_ms` = min(`first_ms`, excluded.`first_ms`),
        `last_ms` = max(`last_ms`, excluded.`last_ms`);
    INSERT INTO `llm_chains` (`agent_id`, `chain`, `calls`, `cost_micros`)
      SELECT NEW.`agent_id`, NEW.`chain`, 1, NEW.`cost_micros` WHERE NEW.`chain` IS NOT NULL
      ON CONFLICT (`agent_id`, `chain`) DO UPDATE SET `calls` = `calls` + 1, `cost_micros` = `cost_micros` + excluded.`cost_micros`;
  END;
--> statement-breakpoint
CREATE TRIGGER `llm_requests_settled` AFTER UPDATE OF `status` ON `llm_requests` WHEN OLD.`status` = 'pending' AND NEW.`status` != 'pending'
  BEGIN
    INSERT INTO `llm_totals` (`agent_id`, `provider`, `model`, `status`, `requests`, `prompt_tokens`, `completion_tokens`, `cost_micros`)
      VALUES (NEW.`agent_id`, NEW.`provider`, NEW.`model`, NEW.`status`, 1, NEW.`prompt_tokens`, NEW.`completion_tokens`, NEW.`cost_micros`)
      ON CONFLICT (`agent_id`, `provider`, `model`, `status`) DO UPDATE SET
        `requests` = `requests` + 1,
        `prompt_tokens` = `prompt_tokens` + excluded.`prompt_tokens`,
        `completion_tokens` = `completion_tokens` + excluded.`completion_tokens`,
        `cost_micros` = `cost_micros` + excluded.`cost_micros`;
    UPDATE `llm_running` SET
        `requests` = `requests` + 1,
        `errors` = `errors` + (NEW.`status` NOT IN ('ok', 'blocked')),
        `cost_micros` = `cost_micros` + NEW.`cost_micros`,
        `last_charged_ms` = CASE WHEN NEW.`cost_micros` > 0 THEN coalesce(max(`last_charged_ms`, coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0)), coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0)) ELSE `last_charged_ms` END
      WHERE `agent_id` = NEW.`agent_id` AND `minute` >= coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) / 60000 * 60000;
    INSERT INTO `llm_running` (`agent_id`, `minute`, `requests`, `errors`, `cost_micros`, `last_charged_ms`)
      SELECT NEW.`agent_id`, x.`minute`, coalesce(b.`requests`, 0) + 1, coalesce(b.`errors`, 0) + (NEW.`status` NOT IN ('ok', 'blocked')), coalesce(b.`cost_micros`, 0) + NEW.`cost_micros`,
          coalesce(max(b.`last_charged_ms`, x.`charged`), b.`last_charged_ms`, x.`charged`)
        FROM (SELECT ms / 60000 * 60000 AS `minute`, CASE WHEN NEW.`cost_micros` > 0 THEN ms END AS `charged`
          FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms)) AS x
        LEFT JOIN `llm_running` AS b ON b.`agent_id` = NEW.`agent_id` AND b.`minute` = (SELECT max(`minute`) FROM `llm_running` WHERE `agent_id` = NEW.`agent_id` AND `minute` < x.`minute`)
        WHERE NOT EXISTS (SELECT 1 FROM `llm_running` WHERE `agent_id` = NEW.`agent_id` AND `minute` = x.`minute`);
    INSERT INTO `llm_steps` (`agent_id`, `step`, `calls`, `prompt_tokens`, `completion_tokens`, `cost_micros`, `first_ms`, `last_ms`)
      SELECT NEW.`agent_id`, NEW.`step`, 1, NEW.`prompt_tokens`, NEW.`completion_tokens`, NEW.`cost_micros`, ms, ms
        FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms) WHERE NEW.`step` IS NOT NULL
      ON CONFLICT (`agent_id`, `step`) DO UPDATE SET
        `calls` = `calls` + 1,
        `prompt_tokens` = `prompt_tokens` + excluded.`prompt_tokens`,
        `completion_tokens` = `completion_tokens` + excluded.`completion_tokens`,
        `cost_micros` = `cost_micros` + excluded.`cost_micros`,
        `first_ms` = min(`first_ms`, excluded.`first_ms`),
        `last_ms` = max(`last_ms`, excluded.`last_ms`);
    INSERT INTO `llm_chains` (`agent_id`, `chain`, `calls`, `cost_micros`)
      SELECT NEW.`agent_id`, NEW.`chain`, 1, NEW.`cost_micros` WHERE NEW.`chain` IS NOT NULL
      ON CONFLICT (`agent_id`, `chain`) DO UPDATE SET `calls` = `calls` + 1, `cost_micros` = `cost_micros` + excluded.`cost_micros`;
  END;
--> statement-breakpoint
-- Each minute's running count of errors, less the blocked calls of its agent up to that minute: the
-- blocked rows counted per agent and minute (one pass over the ledger, once), summed in time order.
CREATE TEMP TABLE `blocked_upto` AS
  SELECT `agent_id`, `minute`, sum(`n`) OVER (PARTITION BY `agent_id` ORDER BY `minute`) AS `upto`
    FROM (SELECT `agent_id`, ms - ms % 60000 AS `minute`, count(*) AS `n`
      FROM (SELECT `agent_id`, coalesce(CAST(round(unixepoch(`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms FROM `llm_requests` WHERE `status` = 'blocked')
      GROUP BY 1, 2);
--> statement-breakpoint
CREATE INDEX `blocked_upto_key` ON `blocked_upto` (`agent_id`, `minute`);
--> statement-breakpoint
UPDATE `llm_running` SET `errors` = `errors` - (
    SELECT b.`upto` FROM `blocked_upto` AS b WHERE b.`agent_id` = `llm_running`.`agent_id` AND b.`minute` <= `llm_running`.`minute` ORDER BY b.`minute` DESC LIMIT 1)
  WHERE `agent_id` IN (SELECT `agent_id` FROM `blocked_upto`)
    AND EXISTS (SELECT 1 FROM `blocked_upto` AS b WHERE b.`agent_id` = `llm_running`.`agent_id` AND b.`minute` <= `llm_running`.`minute`);
--> statement-breakpoint
DROP TABLE `blocked_upto`;
