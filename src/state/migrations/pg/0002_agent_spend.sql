CREATE TABLE "agent_spend" (
	"runtime_id" text NOT NULL,
	"agent_id" text NOT NULL,
	"calls" bigint DEFAULT 0 NOT NULL,
	"errors" bigint DEFAULT 0 NOT NULL,
	"prompt_tokens" bigint DEFAULT 0 NOT NULL,
	"completion_tokens" bigint DEFAULT 0 NOT NULL,
	"cost_micros" bigint DEFAULT 0 NOT NULL,
	"last_call_at" text,
	"last_event_at" text,
	CONSTRAINT "agent_spend_pkey" PRIMARY KEY("runtime_id","agent_id")
);
