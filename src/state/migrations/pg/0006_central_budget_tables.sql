CREATE TABLE "budget_leases" (
	"budget_id" text NOT NULL,
	"window_start" bigint NOT NULL,
	"runtime_id" text NOT NULL,
	"granted_micros" bigint DEFAULT 0 NOT NULL,
	"spent_micros" bigint DEFAULT 0 NOT NULL,
	"calls" bigint DEFAULT 0 NOT NULL,
	"used_micros" bigint DEFAULT 0 NOT NULL,
	"held_micros" bigint DEFAULT 0 NOT NULL,
	"waiting" bigint DEFAULT 0 NOT NULL,
	"need_micros" bigint DEFAULT 0 NOT NULL,
	"rate_micros_per_min" bigint DEFAULT 0 NOT NULL,
	"wanted_micros" bigint DEFAULT 0 NOT NULL,
	"expires_at" bigint DEFAULT 0 NOT NULL,
	"updated_at" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "budget_leases_pkey" PRIMARY KEY("budget_id","window_start","runtime_id")
);
--> statement-breakpoint
CREATE TABLE "budgets" (
	"id" text PRIMARY KEY NOT NULL,
	"scope" text NOT NULL,
	"agents" text[] DEFAULT '{}'::text[] NOT NULL,
	"users" text[] DEFAULT '{}'::text[] NOT NULL,
	"period" text NOT NULL,
	"limit_micros" bigint NOT NULL,
	"created_at" text NOT NULL,
	"created_by" text,
	"updated_at" text NOT NULL,
	"alert_window" bigint,
	"alert_state" text
);
--> statement-breakpoint
ALTER TABLE "budget_leases" ADD CONSTRAINT "budget_leases_budget_id_budgets_id_fk" FOREIGN KEY ("budget_id") REFERENCES "public"."budgets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "budget_leases_expiry" ON "budget_leases" USING btree ("expires_at");