-- The audit trails are append-only, as in SQLite (0001_append_only.sql there): the database itself
-- refuses to rewrite history. Triggers are not something a drizzle table can say, so this
-- migration is written by hand. The messages are SQLite's, word for word.
CREATE FUNCTION iron_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% are append-only: % is not allowed', TG_ARGV[0], TG_OP;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION iron_append_only('events');
--> statement-breakpoint
CREATE TRIGGER secret_audit_log_append_only BEFORE UPDATE OR DELETE ON secret_audit_log
  FOR EACH ROW EXECUTE FUNCTION iron_append_only('secret audit log entries');
--> statement-breakpoint
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION iron_append_only('events');
--> statement-breakpoint
CREATE TRIGGER secret_audit_log_no_truncate BEFORE TRUNCATE ON secret_audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION iron_append_only('secret audit log entries');
