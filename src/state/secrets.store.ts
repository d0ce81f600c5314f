import { and, asc, eq, gt, inArray, isNull, sql } from 'drizzle-orm';
import { ConflictError } from '../core/errors.js';
import type { NewEvent } from '../core/events.js';
import { first, insertAll, rows, rowsOf, run, statement, type Answer, type Dialect, type Mode, type SharedTables, type Steps } from './dialect.js';
import type { SecretAuditRow, SecretRow } from './schema.js';

export type { SecretRow, SecretAuditRow };

export const SECRET_OPERATIONS = ['CREATE', 'READ', 'REVEAL', 'UPDATE', 'DELETE', 'INJECT', 'ROTATE', 'DENIED'] as const;
export type SecretOperation = (typeof SECRET_OPERATIONS)[number];

/** One audit row as a caller describes it (id and timestamp are the store's). */
export type SecretAuditInput = Omit<SecretAuditRow, 'id' | 'timestamp' | 'operation'> & { operation: SecretOperation };

/** The sealed part of a row: what sealing produces and a rotation replaces. */
export type SealedColumns = Pick<SecretRow, 'salt' | 'nonce' | 'ciphertext' | 'kdf' | 'maskedSealed'>;

export interface VaultMetaRow {
  salt: Buffer;
  nonce: Buffer;
  ciphertext: Buffer;
  kdf: string;
}

export interface AuditQuery {
  secretName?: string;
  operation?: SecretOperation;
  after?: number;
  limit: number;
}

/** The `updatedAt` of a change: now, or just after the row's last one, so it always moves forward (it tells every change apart). */
function nextUpdatedAt(prev: string | undefined, clock = Date.now()): string {
  return new Date(prev !== undefined && Date.parse(prev) >= clock ? Date.parse(prev) + 1 : clock).toISOString();
}

function staleRefusal(prev: Pick<SecretRow, 'name' | 'updatedAt'>, expectedUpdatedAt: string): ConflictError {
  return new ConflictError(
    `secret ${prev.name} not changed: it was updated at ${prev.updatedAt}, after the version this change was decided from (${expectedUpdatedAt}); open it again to see the current one`,
    'stale',
  );
}

const duplicateSecret = (name: string, environment: string) => new ConflictError(`a secret named ${name} already exists in environment ${environment}`);

// The spawn path (every secret of an environment, an audit row each) and the dashboard's list.
const LIVE = statement((b, { secrets }) => b.select().from(secrets).where(isNull(secrets.deletedAt)).orderBy(asc(secrets.environment), asc(secrets.name)));
const LIVE_IN = statement((b, { secrets }) =>
  b
    .select()
    .from(secrets)
    .where(and(isNull(secrets.deletedAt), eq(secrets.environment, sql.placeholder('environment'))))
    .orderBy(asc(secrets.name)),
);

/**
 * The vault's rows: sealed secrets, their append-only audit log and the check value, on the
 * runtime's SQLite (`onSqlite`: each change through the one writer with its audit rows and its
 * event in one transaction) or the control panel's PostgreSQL (`onPostgres`: a change and its
 * audit rows in one transaction; a panel keeps no event log, the audit log says who did what).
 * The same rows and rules on both, see dialect.ts; the one VaultService (src/secrets/vault.ts)
 * runs on either.
 */
export class SecretsStore<M extends Mode = Mode> {
  constructor(private readonly d: Dialect<M>) {}

  meta(): Answer<M, VaultMetaRow | null> {
    return this.d.read((b, { vaultMeta }) => first(b.select().from(vaultMeta).where(eq(vaultMeta.id, 1))));
  }

  /** Store the check value of a new vault; one that another process made at the same moment wins (this one's key is checked against it). */
  saveMeta(m: VaultMetaRow): Answer<M, void> {
    return this.d.write(function* (b, { vaultMeta }) {
      yield* run(
        b
          .insert(vaultMeta)
          .values({ id: 1, ...m, createdAt: new Date().toISOString() })
          .onConflictDoNothing(),
      );
    }, null);
  }

  /** Live secrets, optionally of one environment, ordered by environment and name. */
  list(environment?: string): Answer<M, SecretRow[]> {
    return this.d.read(() => (environment === undefined ? rowsOf(LIVE, {}) : rowsOf(LIVE_IN, { environment })));
  }

  /** A row by id, deleted or not (the caller tells a deleted id apart from an unknown one). */
  byId(id: string): Answer<M, SecretRow | null> {
    return this.d.read((b, { secrets }) => first(b.select().from(secrets).where(eq(secrets.id, id))));
  }

  liveByName(name: string, environment: string): Answer<M, SecretRow | null> {
    return this.d.read((b, { secrets }) =>
      first(
        b
          .select()
          .from(secrets)
          .where(and(eq(secrets.name, name), eq(secrets.environment, environment), isNull(secrets.deletedAt))),
      ),
    );
  }

  /** The live rows of these names in one environment (a control panel's runtime reads: one indexed query). */
  liveByNames(names: string[], environment: string): Answer<M, SecretRow[]> {
    return this.d.read(function* (b, { secrets }) {
      if (names.length === 0) return [];
      return yield* rows(
        b
          .select()
          .from(secrets)
          .where(and(isNull(secrets.deletedAt), eq(secrets.environment, environment), inArray(secrets.name, names))),
      );
    });
  }

  /** Insert; a live row of the same name and environment → ConflictError (nothing written). */
  create(row: Omit<SecretRow, 'createdAt' | 'updatedAt' | 'deletedAt'>, audit: SecretAuditInput, event: NewEvent): Answer<M, SecretRow> {
    const now = new Date().toISOString();
    const full: SecretRow = { ...row, createdAt: now, updatedAt: now, deletedAt: null };
    return this.d.write(function* (b, t) {
      yield* run(b.insert(t.secrets).values(full), () => duplicateSecret(row.name, row.environment));
      yield* auditRows(t, [audit], now);
      return full;
    }, event);
  }

  /**
   * Replace the sealed value of a live row. `expectedUpdatedAt`: the `updatedAt` the caller
   * decided from; a row changed since is refused (ConflictError `stale`) inside the transaction,
   * the row locked, so no other writer, this process or another, can come in between.
   * `updatedAt` always moves forward, even within one millisecond, so it tells every change apart.
   */
  update(id: string, sealed: SealedColumns, audit: SecretAuditInput[], event: NewEvent, expectedUpdatedAt?: string): Answer<M, SecretRow> {
    const { locked } = this.d;
    return this.d.write(function* (b, t) {
      const { secrets } = t;
      const prev = yield* first(locked(b.select().from(secrets).where(eq(secrets.id, id))));
      if (expectedUpdatedAt !== undefined && prev && prev.updatedAt !== expectedUpdatedAt) throw staleRefusal(prev, expectedUpdatedAt);
      const now = nextUpdatedAt(prev?.updatedAt);
      yield* run(
        b
          .update(secrets)
          .set({ ...sealed, updatedAt: now })
          .where(and(eq(secrets.id, id), isNull(secrets.deletedAt))),
      );
      yield* auditRows(t, audit, now);
      return (yield* first(b.select().from(secrets).where(eq(secrets.id, id))))!;
    }, event);
  }

  softDelete(id: string, audit: SecretAuditInput[], event: NewEvent): Answer<M, void> {
    const now = new Date().toISOString();
    return this.d.write(function* (b, t) {
      yield* run(
        b
          .update(t.secrets)
          .set({ deletedAt: now, updatedAt: now })
          .where(and(eq(t.secrets.id, id), isNull(t.secrets.deletedAt))),
      );
      yield* auditRows(t, audit, now);
    }, event);
  }

  /** Audit rows on their own (reads, injections, refusals): one transaction for all of them. */
  audit(audit: SecretAuditInput[]): Answer<M, void> {
    const now = new Date().toISOString();
    return this.d.write((_b, t) => auditRows(t, audit, now), null);
  }

  auditList(q: AuditQuery): Answer<M, SecretAuditRow[]> {
    return this.d.read((b, { secretAuditLog: log }) =>
      rows(
        b
          .select()
          .from(log)
          .where(and(gt(log.id, q.after ?? 0), q.secretName ? eq(log.secretName, q.secretName) : undefined, q.operation ? eq(log.operation, q.operation) : undefined))
          .orderBy(asc(log.id))
          .limit(q.limit),
      ),
    );
  }

  /** Re-seal every row (live and deleted) and the check value under a new key, in one transaction. */
  rekey(resealed: Array<{ id: string } & SealedColumns>, meta: VaultMetaRow, audit: SecretAuditInput[]): Answer<M, void> {
    const now = new Date().toISOString();
    return this.d.write(function* (b, t) {
      for (const r of resealed) yield* run(b.update(t.secrets).set({ salt: r.salt, nonce: r.nonce, ciphertext: r.ciphertext, kdf: r.kdf, maskedSealed: r.maskedSealed }).where(eq(t.secrets.id, r.id)));
      yield* run(b.update(t.vaultMeta).set(meta).where(eq(t.vaultMeta.id, 1)));
      yield* auditRows(t, audit, now);
    }, null);
  }

  /** Every row, deleted ones too (rekey). */
  all(): Answer<M, SecretRow[]> {
    return this.d.read((b, { secrets }) => rows(b.select().from(secrets).orderBy(asc(secrets.createdAt))));
  }
}

/** Audit rows, stamped `timestamp` (none: nothing). */
function auditRows(t: SharedTables, audit: SecretAuditInput[], timestamp: string): Steps<void> {
  return insertAll(
    t.secretAuditLog,
    audit.map((a) => ({ ...a, timestamp })),
  );
}
