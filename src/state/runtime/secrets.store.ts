import { and, asc, eq, gt, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import { ConflictError } from '../../core/errors.js';
import type { NewEvent } from '../../core/events.js';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { secretAuditLog, secrets, vaultMeta, type SecretAuditRow, type SecretRow } from '../schema.js';
import { isUniqueViolation } from '../db-errors.js';

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

type Awaitable<T> = T | Promise<T>;

/**
 * What the vault (src/secrets/vault.ts) needs of its rows, on either dialect: the runtime's
 * SQLite (SecretsStore, synchronous, through the writer with the change's event) and the
 * control panel's PostgreSQL (PgSecretsStore, async; a panel keeps no event log, so it drops the
 * event). The same rules hold on both (test/state/stores-both-dialects.test.ts).
 */
export interface VaultStore {
  meta(): Awaitable<VaultMetaRow | null>;
  saveMeta(m: VaultMetaRow): Awaitable<void>;
  list(environment?: string): Awaitable<SecretRow[]>;
  byId(id: string): Awaitable<SecretRow | null>;
  liveByName(name: string, environment: string): Awaitable<SecretRow | null>;
  /** The live rows of these names in one environment (a control panel's runtime reads: one query). */
  liveByNames(names: string[], environment: string): Awaitable<SecretRow[]>;
  create(row: Omit<SecretRow, 'createdAt' | 'updatedAt' | 'deletedAt'>, audit: SecretAuditInput, event: NewEvent): Awaitable<SecretRow>;
  update(id: string, sealed: SealedColumns, audit: SecretAuditInput[], event: NewEvent, expectedUpdatedAt?: string): Awaitable<SecretRow>;
  softDelete(id: string, audit: SecretAuditInput[], event: NewEvent): Awaitable<void>;
  audit(rows: SecretAuditInput[]): Awaitable<void>;
  auditList(q: AuditQuery): Awaitable<SecretAuditRow[]>;
}

export interface AuditQuery {
  secretName?: string;
  operation?: SecretOperation;
  after?: number;
  limit: number;
}

/** The `updatedAt` of a change: now, or just after the row's last one, so it always moves forward (it tells every change apart). */
export function nextUpdatedAt(prev: string | undefined, clock = Date.now()): string {
  return new Date(prev !== undefined && Date.parse(prev) >= clock ? Date.parse(prev) + 1 : clock).toISOString();
}

export function staleRefusal(prev: Pick<SecretRow, 'name' | 'updatedAt'>, expectedUpdatedAt: string): ConflictError {
  return new ConflictError(
    `secret ${prev.name} not changed: it was updated at ${prev.updatedAt}, after the version this change was decided from (${expectedUpdatedAt}); open it again to see the current one`,
    'stale',
  );
}

export const duplicateSecret = (name: string, environment: string) => new ConflictError(`a secret named ${name} already exists in environment ${environment}`);

/**
 * The vault's rows: sealed secrets, their append-only audit log and the check value. Every
 * change goes through the one writer with its audit row and its event in the same transaction.
 */
export class SecretsStore implements VaultStore {
  private readonly db: StoreDb;
  private readonly insertAuditRow;
  private readonly listEnv;
  private readonly listAll;

  constructor(state: StateManager) {
    this.db = storeDb(state);
    // The spawn path (every secret of an environment, an audit row each): prepared once.
    const p = sql.placeholder;
    const orm = this.db.orm;
    this.insertAuditRow = orm
      .insert(secretAuditLog)
      .values({
        secretName: p('secretName'),
        operation: p('operation'),
        requesterRole: p('requesterRole'),
        requester: p('requester'),
        agentId: p('agentId'),
        success: p('success'),
        errorMessage: p('errorMessage'),
        timestamp: p('timestamp'),
      })
      .prepare();
    this.listEnv = orm
      .select()
      .from(secrets)
      .where(and(isNull(secrets.deletedAt), eq(secrets.environment, p('environment'))))
      .orderBy(asc(secrets.name))
      .prepare();
    this.listAll = orm.select().from(secrets).where(isNull(secrets.deletedAt)).orderBy(asc(secrets.environment), asc(secrets.name)).prepare();
  }

  meta(): VaultMetaRow | null {
    return this.db.orm.select().from(vaultMeta).where(eq(vaultMeta.id, 1)).get() ?? null;
  }

  /** Store the check value of a new vault (first unlock of this database). */
  saveMeta(m: VaultMetaRow): void {
    this.db.writer.now(
      () =>
        this.db.orm
          .insert(vaultMeta)
          .values({ id: 1, ...m, createdAt: new Date().toISOString() })
          .run(),
      null,
    );
  }

  /** Live secrets, optionally of one environment, ordered by environment and name. */
  list(environment?: string): SecretRow[] {
    return environment === undefined ? this.listAll.all() : this.listEnv.all({ environment });
  }

  /** A row by id, deleted or not (the caller tells a deleted id apart from an unknown one). */
  byId(id: string): SecretRow | null {
    return this.db.orm.select().from(secrets).where(eq(secrets.id, id)).get() ?? null;
  }

  liveByName(name: string, environment: string): SecretRow | null {
    return (
      this.db.orm
        .select()
        .from(secrets)
        .where(and(eq(secrets.name, name), eq(secrets.environment, environment), isNull(secrets.deletedAt)))
        .get() ?? null
    );
  }

  liveByNames(names: string[], environment: string): SecretRow[] {
    if (names.length === 0) return [];
    return this.db.orm
      .select()
      .from(secrets)
      .where(and(isNull(secrets.deletedAt), eq(secrets.environment, environment), inArray(secrets.name, names)))
      .all();
  }

  /** Insert; a live row of the same name and environment → ConflictError (nothing written but the audit row). */
  create(row: Omit<SecretRow, 'createdAt' | 'updatedAt' | 'deletedAt'>, audit: SecretAuditInput, event: NewEvent): SecretRow {
    const now = new Date().toISOString();
    const full: SecretRow = { ...row, createdAt: now, updatedAt: now, deletedAt: null };
    try {
      this.db.writer.now(() => {
        this.db.orm.insert(secrets).values(full).run();
        this.insertAudit(audit, now);
      }, event);
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      throw duplicateSecret(row.name, row.environment);
    }
    return full;
  }

  /**
   * Replace the sealed value of a live row. `expectedUpdatedAt`: the `updatedAt` the caller
   * decided from; a row changed since is refused (ConflictError `stale`) inside the transaction,
   * so no other writer, this process or another, can come in between. `updatedAt` always moves
   * forward, even within one millisecond, so it tells every change apart.
   */
  update(id: string, sealed: SealedColumns, audit: SecretAuditInput[], event: NewEvent, expectedUpdatedAt?: string): SecretRow {
    this.db.writer.now(() => {
      const prev = this.byId(id);
      if (expectedUpdatedAt !== undefined && prev && prev.updatedAt !== expectedUpdatedAt) throw staleRefusal(prev, expectedUpdatedAt);
      const now = nextUpdatedAt(prev?.updatedAt);
      this.db.orm
        .update(secrets)
        .set({ ...sealed, updatedAt: now })
        .where(and(eq(secrets.id, id), isNull(secrets.deletedAt)))
        .run();
      for (const a of audit) this.insertAudit(a, now);
    }, event);
    return this.byId(id)!;
  }

  softDelete(id: string, audit: SecretAuditInput[], event: NewEvent): void {
    const now = new Date().toISOString();
    this.db.writer.now(() => {
      this.db.orm
        .update(secrets)
        .set({ deletedAt: now, updatedAt: now })
        .where(and(eq(secrets.id, id), isNull(secrets.deletedAt)))
        .run();
      for (const a of audit) this.insertAudit(a, now);
    }, event);
  }

  /** Audit rows on their own (reads, injections, refusals): one transaction for all of them. */
  audit(rows: SecretAuditInput[]): void {
    if (rows.length === 0) return;
    const now = new Date().toISOString();
    this.db.writer.now(() => {
      for (const a of rows) this.insertAudit(a, now);
    }, null);
  }

  auditList(q: AuditQuery): SecretAuditRow[] {
    const where: SQL[] = [gt(secretAuditLog.id, q.after ?? 0)];
    if (q.secretName) where.push(eq(secretAuditLog.secretName, q.secretName));
    if (q.operation) where.push(eq(secretAuditLog.operation, q.operation));
    return this.db.orm
      .select()
      .from(secretAuditLog)
      .where(and(...where))
      .orderBy(asc(secretAuditLog.id))
      .limit(q.limit)
      .all();
  }

  /** Re-seal every row (live and deleted) and the check value under a new key, in one transaction. */
  rekey(rows: Array<{ id: string } & SealedColumns>, meta: VaultMetaRow, audit: SecretAuditInput[]): void {
    const now = new Date().toISOString();
    this.db.writer.now(() => {
      for (const r of rows) this.db.orm.update(secrets).set({ salt: r.salt, nonce: r.nonce, ciphertext: r.ciphertext, kdf: r.kdf, maskedSealed: r.maskedSealed }).where(eq(secrets.id, r.id)).run();
      this.db.orm.update(vaultMeta).set(meta).where(eq(vaultMeta.id, 1)).run();
      for (const a of audit) this.insertAudit(a, now);
    }, null);
  }

  /** Every row, deleted ones too (rekey). */
  all(): SecretRow[] {
    return this.db.orm.select().from(secrets).orderBy(asc(secrets.createdAt)).all();
  }

  private insertAudit(a: SecretAuditInput, timestamp: string): void {
    this.insertAuditRow.run({ ...a, timestamp });
  }
}
