-- One index of the ledger by agent: llm_requests_agent (agent_id, id) goes, llm_requests_agent_ts
-- (agent_id, ts, and the rowid SQLite ends every index with) serves its readers too (an agent's
-- latest calls, now by time). Each index by agent was a page more in every call's commit (~1.2 of
-- ~10 WAL frames a call: bench ledger).
DROP INDEX `llm_requests_agent`;
