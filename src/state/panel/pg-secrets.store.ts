import { and, asc, eq, gt, inArray, isNull, type SQL } from 'drizzle-orm';
import type { NewEvent } from '../../core/events.js';
import type { PanelDb } from './pg.js';
import { secretAuditLog, secrets, vaultMeta } from './schema-pg.js';
import {
  duplicateSecret,
  nextUpdatedAt,
  staleRefusal,
  type AuditQuery,
  type SealedColumns,
  type SecretAuditInput,
  type SecretAuditRow,
  type SecretRow,
  type VaultMetaRow,
  type VaultStore,
} from '../runtime/secrets.store.js';
import { isUniqueViolation } from '../db-errors.js';

/**
 * The control panel's vault rows in PostgreSQL: the rows and rules of SecretsStore (SQLite), each
 * method answering with a promise, so the one VaultService (src/secrets/vault.ts) runs on either.
 * A change and its audit rows commit in one transaction; the event a runtime would record is
 * not kept (a panel has no event log of its own: the audit log says who did what).
 */
export class PgSecretsStore implements VaultStore {
  constructor(private readonly db: PanelDb) {}

  async meta(): Promise<VaultMetaRow | null> {
    const [row] = await this.db.select().from(vaultMeta).where(eq(vaultMeta.id, 1)).limit(1);
    return row ?? null;
  }

  /** The check value of a new vault; a second panel that made its own at the same moment loses (its key is checked against the first). */
  async saveMeta(m: VaultMetaRow): Promise<void> {
    await this.db
      .insert(vaultMeta)
      .values({ id: 1, ...m, createdAt: new Date().toISOString() })
      .onConflictDoNothing();
  }

  async list(environment?: string): Promise<SecretRow[]> {
    const live = isNull(secrets.deletedAt);
    return this.db
      .select()
      .from(secrets)
      .where(environment === undefined ? live : and(live, eq(secrets.environment, environment)))
      .orderBy(asc(secrets.environment), asc(secrets.name));
  }

  /** The live rows of these names in one environment (a runtime's reads: one indexed query). */
  async liveByNames(names: string[], environment: string): Promise<SecretRow[]> {
    if (names.length === 0) return [];
    return this.db
      .select()
      .from(secrets)
      .where(and(isNull(secrets.deletedAt), eq(secrets.environment, environment), inArray(secrets.name, names)));
  }

  async byId(id: string): Promise<SecretRow | null> {
    const [row] = await this.db.select().from(secrets).where(eq(secrets.id, id)).limit(1);
    return row ?? null;
  }

  async liveByName(name: string, environment: string): Promise<SecretRow | null> {
    const [row] = await this.db
      .select()
      .from(secrets)
      .where(and(eq(secrets.name, name), eq(secrets.environment, environment), isNull(secrets.deletedAt)))
      .limit(1);
    return row ?? null;
  }

  async create(row: Omit<SecretRow, 'createdAt' | 'updatedAt' | 'deletedAt'>, audit: SecretAuditInput, _event: NewEvent): Promise<SecretRow> {
    const now = new Date().toISOString();
    const full: SecretRow = { ...row, createdAt: now, updatedAt: now, deletedAt: null };
    try {
      await this.db.transaction(async (tx) => {
        await tx.insert(secrets).values(full);
        await tx.insert(secretAuditLog).values({ ...audit, timestamp: now });
      });
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      throw duplicateSecret(row.name, row.environment);
    }
    return full;
  }

  /** As SecretsStore.update: the row locked, a change since `expectedUpdatedAt` refused (409 `stale`), `updatedAt` moved forward. */
  async update(id: string, sealed: SealedColumns, audit: SecretAuditInput[], _event: NewEvent, expectedUpdatedAt?: string): Promise<SecretRow> {
    return this.db.transaction(async (tx) => {
      const [prev] = await tx.select().from(secrets).where(eq(secrets.id, id)).for('update');
      if (expectedUpdatedAt !== undefined && prev && prev.updatedAt !== expectedUpdatedAt) throw staleRefusal(prev, expectedUpdatedAt);
      const now = nextUpdatedAt(prev?.updatedAt);
      await tx
        .update(secrets)
        .set({ ...sealed, updatedAt: now })
        .where(and(eq(secrets.id, id), isNull(secrets.deletedAt)));
      if (audit.length > 0) await tx.insert(secretAuditLog).values(audit.map((a) => ({ ...a, timestamp: now })));
      const [row] = await tx.select().from(secrets).where(eq(secrets.id, id));
      return row!;
    });
  }

  async softDelete(id: string, audit: SecretAuditInput[], _event: NewEvent): Promise<void> {
    const now = new Date().toISOString();
    await this.db.transaction(async (tx) => {
      await tx
        .update(secrets)
        .set({ deletedAt: now, updatedAt: now })
        .where(and(eq(secrets.id, id), isNull(secrets.deletedAt)));
      if (audit.length > 0) await tx.insert(secretAuditLog).values(audit.map((a) => ({ ...a, timestamp: now })));
    });
  }

  async audit(rows: SecretAuditInput[]): Promise<void> {
    if (rows.length === 0) return;
    const now = new Date().toISOString();
    await this.db.insert(secretAuditLog).values(rows.map((a) => ({ ...a, timestamp: now })));
  }

  async auditList(q: AuditQuery): Promise<SecretAuditRow[]> {
    const where: SQL[] = [gt(secretAuditLog.id, q.after ?? 0)];
    if (q.secretName) where.push(eq(secretAuditLog.secretName, q.secretName));
    if (q.operation) where.push(eq(secretAuditLog.operation, q.operation));
    return this.db
      .select()
      .from(secretAuditLog)
      .where(and(...where))
      .orderBy(asc(secretAuditLog.id))
      .limit(q.limit);
  }
}
