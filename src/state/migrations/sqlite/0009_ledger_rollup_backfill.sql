-- The ledger rollup (llm_spend) of the rows written before it existed; RequestsStore keeps it from here on.
-- Pending rows join when they settle (at start, as interrupted).
-- minute and last_charged_ms as the store computes them from `ts` (epoch ms); a `ts` SQLite cannot read counts at 0.
INSERT INTO `llm_spend` (`agent_id`, `minute`, `provider`, `model`, `status`, `requests`, `prompt_tokens`, `completion_tokens`, `cost_micros`, `last_charged_ms`)
SELECT `agent_id`, `minute`, `provider`, `model`, `status`, count(*), sum(`prompt_tokens`), sum(`completion_tokens`), sum(`cost_micros`), max(CASE WHEN `cost_micros` > 0 THEN `ms` END)
FROM (
  SELECT *, COALESCE(CAST(round((julianday(`ts`) - 2440587.5) * 86400000) AS INTEGER), 0) AS `ms`,
    COALESCE(CAST(round((julianday(`ts`) - 2440587.5) * 86400000) AS INTEGER), 0) / 60000 * 60000 AS `minute`
  FROM `llm_requests` WHERE `status` <> 'pending'
)
GROUP BY `agent_id`, `minute`, `provider`, `model`, `status`;
