import { and, eq, gt, isNull, lte, ne, or } from 'drizzle-orm';
import type { PanelDb } from './pg.js';
import { apiTokens } from './schema-pg.js';
import { linkRefusal, SWEPT_AFTER_MS, type ApiTokenRow, type LinkRefusal, type NewApiTokenRow } from '../runtime/tokens.store.js';

/**
 * The control panel's API tokens in PostgreSQL: the same rows and rules as TokensStore (SQLite)
 * — login links, the sessions they open, runtime tokens (`kind: 'runtime'`, with the runtime id
 * they may report for) — only a SHA-256 of each secret kept. Methods answer with promises.
 */
export class PgTokensStore {
  constructor(private readonly db: PanelDb) {}

  async add(row: NewApiTokenRow): Promise<void> {
    await this.db.insert(apiTokens).values(row);
  }

  async byHash(hash: string): Promise<ApiTokenRow | null> {
    const [row] = await this.db.select().from(apiTokens).where(eq(apiTokens.hash, hash)).limit(1);
    return row ?? null;
  }

  /** The row a principal's `jti` names (revoked or not). */
  async byId(id: string): Promise<ApiTokenRow | null> {
    const [row] = await this.db.select().from(apiTokens).where(eq(apiTokens.id, id)).limit(1);
    return row ?? null;
  }

  /** As TokensStore.exchangeLink: the link used up and the session stored in one transaction (the link's row locked, so one of two exchanges wins). */
  async exchangeLink(hash: string, now: Date, session: NewApiTokenRow): Promise<LinkRefusal | null> {
    const at = now.toISOString();
    return this.db.transaction(async (tx) => {
      const [link] = await tx
        .select()
        .from(apiTokens)
        .where(and(eq(apiTokens.hash, hash), eq(apiTokens.kind, 'link')))
        .for('update');
      const refusal = linkRefusal(link, at);
      if (refusal) return refusal;
      await tx.update(apiTokens).set({ revokedAt: at }).where(eq(apiTokens.hash, hash));
      await tx.insert(apiTokens).values(session);
      return null;
    });
  }

  /** As TokensStore.endLinks: at a start, void the links not used yet and forget what ended over a day ago. */
  async endLinks(now: Date): Promise<void> {
    const at = now.toISOString();
    const dayAgo = new Date(now.getTime() - SWEPT_AFTER_MS).toISOString();
    await this.db.transaction(async (tx) => {
      await tx
        .update(apiTokens)
        .set({ expiresAt: at })
        .where(and(eq(apiTokens.kind, 'link'), isNull(apiTokens.revokedAt), gt(apiTokens.expiresAt, at)));
      await tx.delete(apiTokens).where(and(or(eq(apiTokens.kind, 'link'), eq(apiTokens.kind, 'session')), or(lte(apiTokens.expiresAt, dayAgo), lte(apiTokens.revokedAt, dayAgo))));
    });
  }

  /** Runtime tokens and live sessions (never links). */
  async list(now = new Date()): Promise<ApiTokenRow[]> {
    return this.db
      .select()
      .from(apiTokens)
      .where(and(ne(apiTokens.kind, 'link'), or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, now.toISOString()))))
      .orderBy(apiTokens.createdAt);
  }

  /**
   * Revoke the live tokens whose id or name this is (a session, a runtime token); returns them as
   * revoked. `only`: of that kind and role alone (`panel token revoke` ends a metrics token, never
   * a user's sessions named like it).
   */
  async revoke(idOrName: string, now = new Date(), only?: { kind: ApiTokenRow['kind']; role: string }): Promise<ApiTokenRow[]> {
    const which = or(eq(apiTokens.id, idOrName), eq(apiTokens.name, idOrName));
    return this.db
      .update(apiTokens)
      .set({ revokedAt: now.toISOString() })
      .where(and(isNull(apiTokens.revokedAt), which, ...(only ? [eq(apiTokens.kind, only.kind), eq(apiTokens.role, only.role)] : [])))
      .returning();
  }

  /** Revoke every live token of this runtime; returns how many. */
  async revokeRuntime(runtimeId: string, now = new Date()): Promise<number> {
    const rows = await this.db
      .update(apiTokens)
      .set({ revokedAt: now.toISOString() })
      .where(and(eq(apiTokens.kind, 'runtime'), eq(apiTokens.runtimeId, runtimeId), isNull(apiTokens.revokedAt)))
      .returning({ id: apiTokens.id });
    return rows.length;
  }

  /** Revoke the live sessions a user's password logins opened (a session row is named after its user); returns how many. */
  async revokeSessionsOf(userName: string, now = new Date()): Promise<number> {
    const rows = await this.db
      .update(apiTokens)
      .set({ revokedAt: now.toISOString() })
      .where(and(eq(apiTokens.kind, 'session'), eq(apiTokens.name, userName), isNull(apiTokens.revokedAt)))
      .returning({ id: apiTokens.id });
    return rows.length;
  }
}
