-- The audit trails are append-only: the database itself refuses to rewrite history. Triggers
-- are not something a drizzle table can say, so this migration is written by hand.
CREATE TRIGGER `events_no_update` BEFORE UPDATE ON `events`
  BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END;
--> statement-breakpoint
CREATE TRIGGER `events_no_delete` BEFORE DELETE ON `events`
  BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed'); END;
--> statement-breakpoint
CREATE TRIGGER `pii_audit_no_update` BEFORE UPDATE ON `pii_audit`
  BEGIN SELECT RAISE(ABORT, 'the PII audit trail is append-only: UPDATE is not allowed'); END;
--> statement-breakpoint
CREATE TRIGGER `pii_audit_no_delete` BEFORE DELETE ON `pii_audit`
  BEGIN SELECT RAISE(ABORT, 'the PII audit trail is append-only: DELETE is not allowed'); END;
--> statement-breakpoint
CREATE TRIGGER `secret_audit_log_no_update` BEFORE UPDATE ON `secret_audit_log`
  BEGIN SELECT RAISE(ABORT, 'the secret audit log is append-only: UPDATE is not allowed'); END;
--> statement-breakpoint
CREATE TRIGGER `secret_audit_log_no_delete` BEFORE DELETE ON `secret_audit_log`
  BEGIN SELECT RAISE(ABORT, 'the secret audit log is append-only: DELETE is not allowed'); END;
