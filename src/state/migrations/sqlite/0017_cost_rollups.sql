-- The cost report's rollups (issue 27): llm_totals (an agent's ledger per provider, model and
-- status over all time) and llm_running (its running totals per minute: a bucket of the report is
-- the difference of two reads at its edges). Both WITHOUT ROWID (drizzle cannot declare it: an
-- agent's rows lie together in key order), kept as llm_spend is (migration 0016) by two more
-- triggers on the same two writes: a settled row's insert, a pending row's settling update. A
-- row in an earlier minute than the agent's latest (a stream closing minutes after it opened)
-- also adds itself to the later minutes' running rows. Filled at once from llm_spend.
CREATE TABLE `llm_running` (
	`agent_id` text NOT NULL,
	`minute` integer NOT NULL,
	`requests` integer NOT NULL,
	`cost_micros` integer NOT NULL,
	`last_charged_ms` integer,
	PRIMARY KEY(`agent_id`, `minute`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `llm_totals` (
	`agent_id` text NOT NULL,
	`provider` text NOT NULL,
	`model` text NOT NULL,
	`status` text NOT NULL,
	`requests` integer NOT NULL,
	`prompt_tokens` integer NOT NULL,
	`completion_tokens` integer NOT NULL,
	`cost_micros` integer NOT NULL,
	PRIMARY KEY(`agent_id`, `provider`, `model`, `status`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TRIGGER `llm_requests_totaled` AFTER INSERT ON `llm_requests` WHEN NEW.`status` != 'pending'
  BEGIN
    INSERT INTO `llm_totals` (`agent_id`, `provider`, `model`, `status`, `requests`, `prompt_tokens`, `completion_tokens`, `cost_micros`)
      VALUES (NEW.`agent_id`, NEW.`provider`, NEW.`model`, NEW.`status`, 1, NEW.`prompt_tokens`, NEW.`completion_tokens`, NEW.`cost_micros`)
      ON CONFLICT (`agent_id`, `provider`, `model`, `status`) DO UPDATE SET
        `requests` = `requests` + 1,
        `prompt_tokens` = `prompt_tokens` + excluded.`prompt_tokens`,
        `completion_tokens` = `completion_tokens` + excluded.`completion_tokens`,
        `cost_micros` = `cost_micros` + excluded.`cost_micros`;
    INSERT INTO `llm_running` (`agent_id`, `minute`, `requests`, `cost_micros`, `last_charged_ms`)
      SELECT NEW.`agent_id`, x.`minute`, coalesce(b.`requests`, 0) + 1, coalesce(b.`cost_micros`, 0) + NEW.`cost_micros`, coalesce(max(b.`last_charged_ms`, x.`charged`), b.`last_charged_ms`, x.`charged`)
        FROM (SELECT ms - ms % 60000 AS `minute`, CASE WHEN NEW.`cost_micros` > 0 THEN ms END AS `charged` FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms)) AS x
        LEFT JOIN `llm_running` AS b ON b.`agent_id` = NEW.`agent_id` AND b.`minute` = (SELECT max(`minute`) FROM `llm_running` WHERE `agent_id` = NEW.`agent_id` AND `minute` < x.`minute`)
        WHERE true
      ON CONFLICT (`agent_id`, `minute`) DO UPDATE SET
        `requests` = `requests` + 1,
        `cost_micros` = `cost_micros` + NEW.`cost_micros`,
        `last_charged_ms` = coalesce(max(`last_charged_ms`, excluded.`last_charged_ms`), `last_charged_ms`, excluded.`last_charged_ms`);
    UPDATE `llm_running` SET
        `requests` = `requests` + 1,
        `cost_micros` = `cost_micros` + NEW.`cost_micros`,
        `last_charged_ms` = coalesce(max(`last_charged_ms`, CASE WHEN NEW.`cost_micros` > 0 THEN coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) END), `last_charged_ms`, CASE WHEN NEW.`cost_micros` > 0 THEN coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) END)
      WHERE `agent_id` = NEW.`agent_id` AND `minute` > (SELECT ms - ms % 60000 FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms));
  END;
--> statement-breakpoint
CREATE TRIGGER `llm_requests_settled_totals` AFTER UPDATE OF `status` ON `llm_requests` WHEN OLD.`status` = 'pending' AND NEW.`status` != 'pending'
  BEGIN
    INSERT INTO `llm_totals` (`agent_id`, `provider`, `model`, `status`, `requests`, `prompt_tokens`, `completion_tokens`, `cost_micros`)
      VALUES (NEW.`agent_id`, NEW.`provider`, NEW.`model`, NEW.`status`, 1, NEW.`prompt_tokens`, NEW.`completion_tokens`, NEW.`cost_micros`)
      ON CONFLICT (`agent_id`, `provider`, `model`, `status`) DO UPDATE SET
        `requests` = `requests` + 1,
        `prompt_tokens` = `prompt_tokens` + excluded.`prompt_tokens`,
        `completion_tokens` = `completion_tokens` + excluded.`completion_tokens`,
        `cost_micros` = `cost_micros` + excluded.`cost_micros`;
    INSERT INTO `llm_running` (`agent_id`, `minute`, `requests`, `cost_micros`, `last_charged_ms`)
      SELECT NEW.`agent_id`, x.`minute`, coalesce(b.`requests`, 0) + 1, coalesce(b.`cost_micros`, 0) + NEW.`cost_micros`, coalesce(max(b.`last_charged_ms`, x.`charged`), b.`last_charged_ms`, x.`charged`)
        FROM (SELECT ms - ms % 60000 AS `minute`, CASE WHEN NEW.`cost_micros` > 0 THEN ms END AS `charged` FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms)) AS x
        LEFT JOIN `llm_running` AS b ON b.`agent_id` = NEW.`agent_id` AND b.`minute` = (SELECT max(`minute`) FROM `llm_running` WHERE `agent_id` = NEW.`agent_id` AND `minute` < x.`minute`)
        WHERE true
      ON CONFLICT (`agent_id`, `minute`) DO UPDATE SET
        `requests` = `requests` + 1,
        `cost_micros` = `cost_micros` + NEW.`cost_micros`,
        `last_charged_ms` = coalesce(max(`last_charged_ms`, excluded.`last_charged_ms`), `last_charged_ms`, excluded.`last_charged_ms`);
    UPDATE `llm_running` SET
        `requests` = `requests` + 1,
        `cost_micros` = `cost_micros` + NEW.`cost_micros`,
        `last_charged_ms` = coalesce(max(`last_charged_ms`, CASE WHEN NEW.`cost_micros` > 0 THEN coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) END), `last_charged_ms`, CASE WHEN NEW.`cost_micros` > 0 THEN coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) END)
      WHERE `agent_id` = NEW.`agent_id` AND `minute` > (SELECT ms - ms % 60000 FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms));
  END;
--> statement-breakpoint
INSERT INTO `llm_totals` SELECT `agent_id`, `provider`, `model`, `status`, sum(`requests`), sum(`prompt_tokens`), sum(`completion_tokens`), sum(`cost_micros`) FROM `llm_spend` GROUP BY 1, 2, 3, 4;
--> statement-breakpoint
INSERT INTO `llm_running`
  SELECT `agent_id`, `minute`, sum(sum(`requests`)) OVER w, sum(sum(`cost_micros`)) OVER w, max(max(`last_charged_ms`)) OVER w
    FROM `llm_spend` GROUP BY `agent_id`, `minute`
    WINDOW w AS (PARTITION BY `agent_id` ORDER BY `minute`);
