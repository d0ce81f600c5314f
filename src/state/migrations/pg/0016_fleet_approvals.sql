CREATE TABLE "approval_decisions" (
	"runtime_id" text NOT NULL,
	"approval_id" text NOT NULL,
	"seq" bigint GENERATED ALWAYS AS IDENTITY (sequence name "approval_decisions_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"decision" text NOT NULL,
	"reason" text,
	"role" text NOT NULL,
	"name" text NOT NULL,
	"user_name" text,
	"decided_by" text NOT NULL,
	"decided_at" text NOT NULL,
	CONSTRAINT "approval_decisions_pkey" PRIMARY KEY("runtime_id","approval_id")
);
--> statement-breakpoint
CREATE TABLE "fleet_approvals" (
	"runtime_id" text NOT NULL,
	"approval_id" text NOT NULL,
	"agent_id" text NOT NULL,
	"kind" text NOT NULL,
	"service" text NOT NULL,
	"tool" text NOT NULL,
	"method" text,
	"args" text NOT NULL,
	"rule" text NOT NULL,
	"approver_roles" text[] DEFAULT '{}'::text[] NOT NULL,
	"approver_users" text[] DEFAULT '{}'::text[] NOT NULL,
	"ahead" boolean DEFAULT false NOT NULL,
	"note" text,
	"requested_at" text NOT NULL,
	"expires_at" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"decided_by" text,
	"decided_at" text,
	"reason" text,
	"waited_ms" bigint,
	CONSTRAINT "fleet_approvals_pkey" PRIMARY KEY("runtime_id","approval_id")
);
--> statement-breakpoint
CREATE INDEX "approval_decisions_runtime_seq" ON "approval_decisions" USING btree ("runtime_id","seq");--> statement-breakpoint
CREATE INDEX "fleet_approvals_pending" ON "fleet_approvals" USING btree ("requested_at") WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX "fleet_approvals_decided" ON "fleet_approvals" USING btree ("decided_at") WHERE decided_at is not null;--> statement-breakpoint
-- Written by hand: a panel user's decision on a runtime's approval is an audit trail, append-only
-- like the event log and the vault's audit (0001_append_only.sql): who decided what and why is
-- never rewritten or removed. (fleet_approvals is a view of the runtimes' events, kept up to date
-- by the ingest, and starts empty: an approval requested before this migration has no row, and
-- ends by its rule's timeout on its runtime.)
CREATE TRIGGER approval_decisions_append_only BEFORE UPDATE OR DELETE ON approval_decisions
  FOR EACH ROW EXECUTE FUNCTION iron_append_only('approval decisions');
--> statement-breakpoint
CREATE TRIGGER approval_decisions_no_truncate BEFORE TRUNCATE ON approval_decisions
  FOR EACH STATEMENT EXECUTE FUNCTION iron_append_only('approval decisions');
