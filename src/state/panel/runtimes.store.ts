import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import { ConflictError, NotFoundError } from '../../core/errors.js';
import type { PanelDb } from './pg.js';
import { budgetLeases, runtimes, type RuntimeRow } from './schema-panel.js';
import { apiTokens } from './schema-pg.js';
import type { TelemetryHello } from '../telemetry.js';
import type { NewApiTokenRow } from '../tokens.store.js';

/** A runtime as the panel lists it (GET /api/runtimes). */
export type RuntimeView = RuntimeRow;

/**
 * The runtimes an admin added to a control panel, each with its token (`kind: 'runtime'`): added
 * with its first token in one transaction, removed with every token revoked in one.
 */
export class RuntimesStore {
  constructor(private readonly db: PanelDb) {}

  /**
   * Add a runtime (or take back one removed earlier: its data and cursors stay) with its token.
   * A live runtime of that id → ConflictError.
   */
  async add(o: { id: string; userId: string | null; token: NewApiTokenRow; secrets?: string[]; now?: Date }): Promise<RuntimeView> {
    const secrets = o.secrets ?? [];
    const at = (o.now ?? new Date()).toISOString();
    return this.db.transaction(async (tx) => {
      const [existing] = await tx.select().from(runtimes).where(eq(runtimes.id, o.id)).for('update');
      if (existing && existing.removedAt === null) throw new ConflictError(`a runtime '${o.id}' already exists (DELETE /api/runtimes/${o.id} first to give it a new token)`);
      const [row] = existing
        ? await tx.update(runtimes).set({ removedAt: null, userId: o.userId, secrets }).where(eq(runtimes.id, o.id)).returning()
        : await tx.insert(runtimes).values({ id: o.id, userId: o.userId, createdAt: at, secrets }).returning();
      await tx.insert(apiTokens).values({ ...o.token, kind: 'runtime', runtimeId: o.id });
      return row!;
    });
  }

  /** Live runtimes by id. */
  async list(): Promise<RuntimeView[]> {
    return this.db.select().from(runtimes).where(isNull(runtimes.removedAt)).orderBy(asc(runtimes.id));
  }

  async byId(id: string): Promise<RuntimeView | null> {
    const [row] = await this.db.select().from(runtimes).where(eq(runtimes.id, id)).limit(1);
    return row ?? null;
  }

  /** Replace the secret scope of a live runtime; null when there is none. */
  async setSecrets(id: string, secrets: string[]): Promise<RuntimeView | null> {
    const [row] = await this.db
      .update(runtimes)
      .set({ secrets })
      .where(and(eq(runtimes.id, id), isNull(runtimes.removedAt)))
      .returning();
    return row ?? null;
  }

  /**
   * Remove a live runtime and revoke its tokens, in one transaction; null when there is none. Its
   * reported data stays. The admin declares it gone: what its central budget leases hold beyond
   * what it reported spending (its rows, or used + held at its last lease call) returns to the
   * budgets at once, as a silent runtime's would after `lease_reclaim_after`.
   */
  async remove(id: string, now = new Date()): Promise<{ runtime: RuntimeView; revoked: number; reclaimedMicros: number } | null> {
    const at = now.toISOString();
    return this.db.transaction(async (tx) => {
      const [row] = await tx
        .update(runtimes)
        .set({ removedAt: at })
        .where(and(eq(runtimes.id, id), isNull(runtimes.removedAt)))
        .returning();
      if (!row) return null;
      const revoked = await tx
        .update(apiTokens)
        .set({ revokedAt: at })
        .where(and(eq(apiTokens.kind, 'runtime'), eq(apiTokens.runtimeId, id), isNull(apiTokens.revokedAt)))
        .returning({ id: apiTokens.id });
      const reported = sql`greatest(${budgetLeases.spentMicros}, ${budgetLeases.usedMicros} + ${budgetLeases.heldMicros})`;
      const [back] = await tx
        .select({ micros: sql<string>`coalesce(sum(${budgetLeases.grantedMicros} - ${reported}), 0)` })
        .from(budgetLeases)
        .where(and(eq(budgetLeases.runtimeId, id), sql`${budgetLeases.grantedMicros} > ${reported}`));
      await tx
        .update(budgetLeases)
        .set({ grantedMicros: reported })
        .where(and(eq(budgetLeases.runtimeId, id), sql`${budgetLeases.grantedMicros} > ${reported}`));
      return { runtime: row, revoked: revoked.length, reclaimedMicros: Number(back?.micros ?? 0) };
    });
  }

  /** GET /api/telemetry: where the panel stands for this runtime; marks it seen. */
  async hello(id: string, now = Date.now()): Promise<TelemetryHello> {
    const [row] = await this.db
      .update(runtimes)
      .set({ lastSeenAt: sql`greatest(coalesce(${runtimes.lastSeenAt}, 0), ${now})` })
      .where(and(eq(runtimes.id, id), isNull(runtimes.removedAt)))
      .returning();
    if (!row) throw new NotFoundError(`no runtime '${id}' on this panel`);
    return { runtime: row.id, lastSeq: row.lastSeq, cursor: { eventSeq: row.eventSeq, llmRequestId: row.llmRequestId, toolCallId: row.toolCallId } };
  }
}
