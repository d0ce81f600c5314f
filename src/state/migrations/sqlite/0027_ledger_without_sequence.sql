-- The call path's two tables without AUTOINCREMENT (a cost each call paid): every commit that adds an event or a
-- ledger row rewrote the sqlite_sequence page as well (a WAL frame a commit, two a stream: ~8% of a
-- call's ledger write). Neither table frees its newest id: the event log refuses DELETE (0001) and
-- the ledger now does too (below), so SQLite's max(id) + 1 gives the same ids AUTOINCREMENT did,
-- never one used before, which the panel's high-water marks rely on. A table whose newest rows were
-- once deleted by hand (its sequence past its largest id) keeps the keyword: only AUTOINCREMENT
-- remembers those ids.
--
-- The keyword changes nothing on disk (both are rowid tables, the key the rowid), so the schema's
-- text is edited in place, SQLite's own procedure for a change that leaves the stored content as it
-- is (lang_altertable.html, "the simpler procedure"), instead of copying every row into a new table:
-- instant on a file of millions of rows. migrate.ts runs migrations outside SQLite's defensive mode,
-- which refuses writable_schema; RESET reloads this connection's schema, and the CREATE TRIGGER after
-- it moves the schema cookie, so any other connection reloads it too.
PRAGMA writable_schema = ON;
--> statement-breakpoint
UPDATE `sqlite_schema` SET `sql` = replace(`sql`, ' AUTOINCREMENT', '')
  WHERE `type` = 'table' AND (
    (`name` = 'events' AND coalesce((SELECT `seq` FROM `sqlite_sequence` WHERE `name` = 'events'), 0) <= (SELECT coalesce(max(`seq`), 0) FROM `events`))
    OR (`name` = 'llm_requests' AND coalesce((SELECT `seq` FROM `sqlite_sequence` WHERE `name` = 'llm_requests'), 0) <= (SELECT coalesce(max(`id`), 0) FROM `llm_requests`))
  );
--> statement-breakpoint
PRAGMA writable_schema = RESET;
--> statement-breakpoint
DELETE FROM `sqlite_sequence` WHERE `name` IN (SELECT `name` FROM `sqlite_schema` WHERE `type` = 'table' AND `name` IN ('events', 'llm_requests') AND `sql` NOT LIKE '%AUTOINCREMENT%');
--> statement-breakpoint
-- A call's row is settled (an UPDATE of its pending row) but never removed: the money it records
-- and the budgets rebuilt from it stay whole.
CREATE TRIGGER `llm_requests_no_delete` BEFORE DELETE ON `llm_requests`
  BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE is not allowed'); END;
