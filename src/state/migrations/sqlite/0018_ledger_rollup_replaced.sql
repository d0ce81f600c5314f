-- llm_spend (per agent, minute, provider, model and status) gives way to llm_totals and
-- llm_running (0017): its readers summed every minute of an agent on each request (the cost
-- report ~4,300 rows for an agent's day, start-up every row of the table). The ledger's two
-- triggers are made again with the new rollups in place of llm_spend's: a row counts once, when
-- it is inserted settled or when its status leaves `pending`, in the statement that writes it.
-- Its time is its `ts` read to the millisecond (an unreadable one counts at 0); its minute that
-- time rounded down. A row settled in an earlier minute than the agent's latest (a stream closed
-- minutes after it opened, a row marked `interrupted` at start) adds itself to the later minutes'
-- running totals too. Both bodies are the same statements.
DROP TRIGGER `llm_requests_rolled`;
--> statement-breakpoint
DROP TRIGGER `llm_requests_settled`;
--> statement-breakpoint
DROP TABLE `llm_spend`;
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
    INSERT INTO `llm_running` (`agent_id`, `minute`, `requests`, `errors`, `cost_micros`, `last_charged_ms`)
      SELECT NEW.`agent_id`, x.`minute`, coalesce(b.`requests`, 0) + 1, coalesce(b.`errors`, 0) + x.`failed`, coalesce(b.`cost_micros`, 0) + NEW.`cost_micros`,
          coalesce(max(b.`last_charged_ms`, x.`charged`), b.`last_charged_ms`, x.`charged`)
        FROM (SELECT ms - ms % 60000 AS `minute`, CASE WHEN NEW.`cost_micros` > 0 THEN ms END AS `charged`, CASE WHEN NEW.`status` = 'ok' THEN 0 ELSE 1 END AS `failed`
          FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms)) AS x
        LEFT JOIN `llm_running` AS b ON b.`agent_id` = NEW.`agent_id` AND b.`minute` = (SELECT max(`minute`) FROM `llm_running` WHERE `agent_id` = NEW.`agent_id` AND `minute` < x.`minute`)
        WHERE true
      ON CONFLICT (`agent_id`, `minute`) DO UPDATE SET
        `requests` = `requests` + 1,
        `errors` = `errors` + CASE WHEN NEW.`status` = 'ok' THEN 0 ELSE 1 END,
        `cost_micros` = `cost_micros` + NEW.`cost_micros`,
        `last_charged_ms` = coalesce(max(`last_charged_ms`, excluded.`last_charged_ms`), `last_charged_ms`, excluded.`last_charged_ms`);
    UPDATE `llm_running` SET
        `requests` = `requests` + 1,
        `errors` = `errors` + CASE WHEN NEW.`status` = 'ok' THEN 0 ELSE 1 END,
        `cost_micros` = `cost_micros` + NEW.`cost_micros`,
        `last_charged_ms` = coalesce(max(`last_charged_ms`, CASE WHEN NEW.`cost_micros` > 0 THEN coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) END), `last_charged_ms`, CASE WHEN NEW.`cost_micros` > 0 THEN coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) END)
      WHERE `agent_id` = NEW.`agent_id` AND `minute` > (SELECT ms - ms % 60000 FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms));
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
    INSERT INTO `llm_running` (`agent_id`, `minute`, `requests`, `errors`, `cost_micros`, `last_charged_ms`)
      SELECT NEW.`agent_id`, x.`minute`, coalesce(b.`requests`, 0) + 1, coalesce(b.`errors`, 0) + x.`failed`, coalesce(b.`cost_micros`, 0) + NEW.`cost_micros`,
          coalesce(max(b.`last_charged_ms`, x.`charged`), b.`last_charged_ms`, x.`charged`)
        FROM (SELECT ms - ms % 60000 AS `minute`, CASE WHEN NEW.`cost_micros` > 0 THEN ms END AS `charged`, CASE WHEN NEW.`status` = 'ok' THEN 0 ELSE 1 END AS `failed`
          FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms)) AS x
        LEFT JOIN `llm_running` AS b ON b.`agent_id` = NEW.`agent_id` AND b.`minute` = (SELECT max(`minute`) FROM `llm_running` WHERE `agent_id` = NEW.`agent_id` AND `minute` < x.`minute`)
        WHERE true
      ON CONFLICT (`agent_id`, `minute`) DO UPDATE SET
        `requests` = `requests` + 1,
        `errors` = `errors` + CASE WHEN NEW.`status` = 'ok' THEN 0 ELSE 1 END,
        `cost_micros` = `cost_micros` + NEW.`cost_micros`,
        `last_charged_ms` = coalesce(max(`last_charged_ms`, excluded.`last_charged_ms`), `last_charged_ms`, excluded.`last_charged_ms`);
    UPDATE `llm_running` SET
        `requests` = `requests` + 1,
        `errors` = `errors` + CASE WHEN NEW.`status` = 'ok' THEN 0 ELSE 1 END,
        `cost_micros` = `cost_micros` + NEW.`cost_micros`,
        `last_charged_ms` = coalesce(max(`last_charged_ms`, CASE WHEN NEW.`cost_micros` > 0 THEN coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) END), `last_charged_ms`, CASE WHEN NEW.`cost_micros` > 0 THEN coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) END)
      WHERE `agent_id` = NEW.`agent_id` AND `minute` > (SELECT ms - ms % 60000 FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms));
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
