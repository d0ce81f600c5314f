ALTER TABLE "llm_requests" ADD COLUMN "step" bigint;--> statement-breakpoint
ALTER TABLE "llm_requests" ADD COLUMN "chain" text;