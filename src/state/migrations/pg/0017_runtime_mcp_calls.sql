-- Each runtime's MCP calls (its tool_calls rows with method 'tools/call'): kept by the ingest from
-- each batch's new rows, and counted once here from the rows the panel already holds.
ALTER TABLE "runtimes" ADD COLUMN "mcp_calls" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
UPDATE "runtimes" SET "mcp_calls" = c.n FROM (SELECT "runtime_id", count(*) AS n FROM "tool_calls" WHERE "method" = 'tools/call' GROUP BY "runtime_id") AS c WHERE c."runtime_id" = "runtimes"."id";
