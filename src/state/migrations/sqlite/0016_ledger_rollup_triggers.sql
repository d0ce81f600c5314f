-- llm_spend, llm_steps and llm_chains kept by the ledger's own statements: a settled row's insert,
-- or the update that settles a `pending` one (a stream closed, or marked `interrupted` at start),
-- adds it to its groups in the same statement, where RequestsStore ran three upserts of its own
-- after each (three more crossings from JavaScript into SQLite on the money path). A row counts
-- once: when it is inserted settled, or when its status leaves `pending`. Its time is its `ts`
-- read to the millisecond (an unreadable one counts at 0, as Date.parse did); the minute is that
-- time rounded down. Both bodies are one statement each per rollup, the same in the two triggers.
CREATE TRIGGER `llm_requests_rolled` AFTER INSERT ON `llm_requests` WHEN NEW.`status` != 'pending'
  BEGIN
    INSERT INTO `llm_spend` (`agent_id`, `minute`, `provider`, `model`, `status`, `requests`, `prompt_tokens`, `completion_tokens`, `cost_micros`, `last_charged_ms`)
      SELECT NEW.`agent_id`, ms - ms % 60000, NEW.`provider`, NEW.`model`, NEW.`status`, 1, NEW.`prompt_tokens`, NEW.`completion_tokens`, NEW.`cost_micros`, CASE WHEN NEW.`cost_micros` > 0 THEN ms END
        FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms) WHERE true
      ON CONFLICT (`agent_id`, `minute`, `provider`, `model`, `status`) DO UPDATE SET
        `requests` = `requests` + excluded.`requests`,
        `prompt_tokens` = `prompt_tokens` + excluded.`prompt_tokens`,
        `completion_tokens` = `completion_tokens` + excluded.`completion_tokens`,
        `cost_micros` = `cost_micros` + excluded.`cost_micros`,
        `last_charged_ms` = coalesce(max(`last_charged_ms`, excluded.`last_charged_ms`), `last_charged_ms`, excluded.`last_charged_ms`);
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
    INSERT INTO `llm_spend` (`agent_id`, `minute`, `provider`, `model`, `status`, `requests`, `prompt_tokens`, `completion_tokens`, `cost_micros`, `last_charged_ms`)
      SELECT NEW.`agent_id`, ms - ms % 60000, NEW.`provider`, NEW.`model`, NEW.`status`, 1, NEW.`prompt_tokens`, NEW.`completion_tokens`, NEW.`cost_micros`, CASE WHEN NEW.`cost_micros` > 0 THEN ms END
        FROM (SELECT coalesce(CAST(round(unixepoch(NEW.`ts`, 'subsec') * 1000) AS INTEGER), 0) AS ms) WHERE true
      ON CONFLICT (`agent_id`, `minute`, `provider`, `model`, `status`) DO UPDATE SET
        `requests` = `requests` + excluded.`requests`,
        `prompt_tokens` = `prompt_tokens` + excluded.`prompt_tokens`,
        `completion_tokens` = `completion_tokens` + excluded.`completion_tokens`,
        `cost_micros` = `cost_micros` + excluded.`cost_micros`,
        `last_charged_ms` = coalesce(max(`last_charged_ms`, excluded.`last_charged_ms`), `last_charged_ms`, excluded.`last_charged_ms`);
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
