-- A token revoked (a runtime removed, a session or API token revoked, a user's sessions ended)
-- tells every panel replica to forget its cached verifications, from inside the revoking
-- transaction: the NOTIFY is delivered if and only if the revocation commits, whoever made it (a
-- replica, `iron-cage panel runtime rm`, SQL by hand). Replicas trust a token they looked up for a
-- minute while they hear every such word (src/panel/panel.service.ts). Written by hand, as 0019 was.
CREATE OR REPLACE FUNCTION iron_tokens_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('iron_cage_forget', 'tokens database');
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER iron_tokens_revoked AFTER UPDATE OF revoked_at ON api_tokens
  FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL AND NEW.kind <> 'link')
  EXECUTE FUNCTION iron_tokens_revoked();
