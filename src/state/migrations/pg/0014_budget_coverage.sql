CREATE TABLE "budget_coverage" (
	"runtime_id" text NOT NULL,
	"budget_id" text NOT NULL,
	"window_start" bigint NOT NULL,
	"budget_created_at" text NOT NULL,
	"covers_all" boolean DEFAULT false NOT NULL,
	"agents" text[] DEFAULT '{}'::text[] NOT NULL,
	"since" bigint NOT NULL,
	CONSTRAINT "budget_coverage_pkey" PRIMARY KEY("runtime_id","budget_id","window_start","budget_created_at")
);
--> statement-breakpoint
-- Written by hand: the leases granted before this table are each proof that their runtime was
-- told of that budget window (its rows still to come may name it). What the budget covered then is
-- not kept anywhere, so it is taken as it is now: every agent for the fleet or the runtime's user,
-- else the agent names it lists.
INSERT INTO "budget_coverage" ("runtime_id", "budget_id", "window_start", "budget_created_at", "covers_all", "agents", "since")
SELECT l."runtime_id", l."budget_id", l."window_start", b."created_at",
       b."scope" = 'fleet' OR coalesce(r."user_id" = ANY (b."users"), false), b."agents", l."updated_at"
  FROM "budget_leases" l
  JOIN "budgets" b ON b."id" = l."budget_id"
  LEFT JOIN "runtimes" r ON r."id" = l."runtime_id"
 WHERE l."expires_at" > 0;
