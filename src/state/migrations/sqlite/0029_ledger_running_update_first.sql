-- The ledger's triggers (0018) keep llm_running with an UPDATE first (issue 47): the minute of
-- the row and every later one take the call, in one range of the agent's key; a minute not there
-- yet is then made from the one before it. Before, each call first built the new minute's row from
-- the one before it (two more seeks) only to find, nearly always, that the minute was there. The
-- same sums (test/state/cost-rollups.test.ts); llm_totals, llm_steps and llm_chains as they were.
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
        `errors` = `errors` + (NEW.`status` != 'ok'),
        `cost_micros` = `cost_micros` + NEW.`cost_micros`,
        `last_charged_ms` = CASE WHEN NEW.`cost_micros` > 0 THEN coalesce(max(`last_charged_ms`, coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0)), coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0)) ELSE `last_charged_ms` END
      WHERE `agent_id` = NEW.`agent_id` AND `minute` >= coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) / 60000 * 60000;
    INSERT INTO `llm_running` (`agent_id`, `minute`, `requests`, `errors`, `cost_micros`, `last_charged_ms`)
      SELECT NEW.`agent_id`, x.`minute`, coalesce(b.`requests`, 0) + 1, coalesce(b.`errors`, 0) + (NEW.`status` != 'ok'), coalesce(b.`cost_micros`, 0) + NEW.`cost_micros`,
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
        `errors` = `errors` + (NEW.`status` != 'ok'),
        `cost_micros` = `cost_micros` + NEW.`cost_micros`,
        `last_charged_ms` = CASE WHEN NEW.`cost_micros` > 0 THEN coalesce(max(`last_charged_ms`, coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0)), coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0)) ELSE `last_charged_ms` END
      WHERE `agent_id` = NEW.`agent_id` AND `minute` >= coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) / 60000 * 60000;
    INSERT INTO `llm_running` (`agent_id`, `minute`, `requests`, `errors`, `cost_micros`, `last_charged_ms`)
      SELECT NEW.`agent_id`, x.`minute`, coalesce(b.`requests`, 0) + 1, coalesce(b.`errors`, 0) + (NEW.`status` != 'ok'), coalesce(b.`cost_micros`, 0) + NEW.`cost_micros`,
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
