import { and, eq, isNull, or } from 'drizzle-orm';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { apiTokens, type ApiTokenRow } from './schema.js';

export type { ApiTokenRow };

/**
 * API tokens for agents and tools iron-cage does not spawn: only a SHA-256 of each random
 * 256-bit secret is kept (the secret itself is shown once). Every change goes through the
 * one writer.
 */
export class TokensStore {
  private readonly db: StoreDb;

  constructor(state: StateManager) {
    this.db = storeDb(state);
  }

  add(row: ApiTokenRow): void {
    this.db.writer.now(() => this.db.orm.insert(apiTokens).values(row).run(), null);
  }

  byHash(hash: string): ApiTokenRow | null {
    return this.db.orm.select().from(apiTokens).where(eq(apiTokens.hash, hash)).get() ?? null;
  }

  list(): ApiTokenRow[] {
    return this.db.orm.select().from(apiTokens).orderBy(apiTokens.createdAt).all();
  }

  /** Revoke the live tokens whose id or name this is; returns them as revoked. */
  revoke(idOrName: string): ApiTokenRow[] {
    const now = new Date().toISOString();
    const match = and(isNull(apiTokens.revokedAt), or(eq(apiTokens.id, idOrName), eq(apiTokens.name, idOrName)));
    const { result } = this.db.writer.now(() => {
      const rows = this.db.orm.select().from(apiTokens).where(match).all();
      if (rows.length > 0) this.db.orm.update(apiTokens).set({ revokedAt: now }).where(match).run();
      return rows;
    }, null);
    return result.map((r) => ({ ...r, revokedAt: now }));
  }
}
