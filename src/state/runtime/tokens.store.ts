import { and, eq, gt, isNull, lte, ne, or, sql } from 'drizzle-orm';
import type { NewEvent } from '../../core/events.js';
import type { EventSpec } from './writer.js';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { apiTokens, type ApiTokenRow } from '../schema.js';

/** A token row to add (`runtime_id` only for a panel's runtime tokens). */
export type NewApiTokenRow = typeof apiTokens.$inferInsert;

export type { ApiTokenRow };

/** Why a login link could not be exchanged. */
export type LinkRefusal = 'unknown' | 'used' | 'expired';

/** The one rule for a login link at `at` (ISO): null when it may open a session (SQLite and PostgreSQL stores alike). */
export function linkRefusal(link: Pick<ApiTokenRow, 'revokedAt' | 'expiresAt'> | undefined, at: string): LinkRefusal | null {
  return !link ? 'unknown' : link.revokedAt !== null ? 'used' : link.expiresAt === null || link.expiresAt <= at ? 'expired' : null;
}

/** The rows a start sweeps away: links and sessions that ended over a day ago (the `auth.*` events keep the record). */
export const SWEPT_AFTER_MS = 24 * 3600_000;

/**
 * API tokens for agents and tools iron-cage does not spawn, and the dashboard's one-time login
 * links and the sessions they open (`kind`): only a SHA-256 of each random 256-bit secret is
 * kept (the secret itself is shown once). Every change goes through the one writer.
 */
export class TokensStore {
  private readonly db: StoreDb;
  /** Every request with an API token looks it up once its 5 s in the verification cache run out: prepared once. */
  private readonly rowOfHash;

  constructor(state: StateManager) {
    this.db = storeDb(state);
    this.rowOfHash = this.db.orm
      .select()
      .from(apiTokens)
      .where(eq(apiTokens.hash, sql.placeholder('hash')))
      .prepare();
  }

  add(row: NewApiTokenRow, event: EventSpec<unknown> = null): void {
    this.db.writer.now(() => this.db.orm.insert(apiTokens).values(row).run(), event);
  }

  /**
   * Use up the login link with this hash and store the session it opens, in one transaction: of
   * two exchanges of one link, one gets the session and the other `used`. The event is written
   * with the session.
   */
  exchangeLink(hash: string, now: Date, session: NewApiTokenRow, event: NewEvent): LinkRefusal | null {
    const at = now.toISOString();
    let refusal: LinkRefusal | null = null;
    this.db.writer.now(
      () => {
        const link = this.db.orm
          .select()
          .from(apiTokens)
          .where(and(eq(apiTokens.hash, hash), eq(apiTokens.kind, 'link')))
          .get();
        refusal = linkRefusal(link, at);
        if (refusal) return null;
        this.db.orm.update(apiTokens).set({ revokedAt: at }).where(eq(apiTokens.hash, hash)).run();
        this.db.orm.insert(apiTokens).values(session).run();
        return session;
      },
      (written) => (written ? event : null),
    );
    return refusal;
  }

  /**
   * At a start: end every login link not used yet, as if it had expired (the start prints its
   * own), and forget links and sessions that ended over a day ago, so the table does not grow
   * by a row per start (the `auth.*` events keep the record).
   */
  endLinks(now: Date): void {
    const at = now.toISOString();
    const dayAgo = new Date(now.getTime() - SWEPT_AFTER_MS).toISOString();
    this.db.writer.now(() => {
      this.db.orm
        .update(apiTokens)
        .set({ expiresAt: at })
        .where(and(eq(apiTokens.kind, 'link'), isNull(apiTokens.revokedAt), gt(apiTokens.expiresAt, at)))
        .run();
      this.db.orm
        .delete(apiTokens)
        .where(and(ne(apiTokens.kind, 'api'), or(lte(apiTokens.expiresAt, dayAgo), lte(apiTokens.revokedAt, dayAgo))))
        .run();
    }, null);
  }

  byHash(hash: string): ApiTokenRow | null {
    return this.rowOfHash.get({ hash }) ?? null;
  }

  /** The API tokens and the sessions not expired yet; login links are not listed (their events are the record). */
  list(now = new Date()): ApiTokenRow[] {
    return this.db.orm
      .select()
      .from(apiTokens)
      .where(and(ne(apiTokens.kind, 'link'), or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, now.toISOString()))))
      .orderBy(apiTokens.createdAt)
      .all();
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
