import { and, eq, gt, inArray, isNull, lte, ne, or, sql, type SQL } from 'drizzle-orm';
import type { NewEvent } from '../core/events.js';
import { isTokenId } from '../core/ids.js';
import { first, firstOf, rows, run, statement, type Answer, type Dialect, type EventSpec, type Mode } from './dialect.js';
import type { apiTokens, ApiTokenRow } from './schema.js';

/** A token row to add (`runtime_id` only for a panel's runtime tokens). */
export type NewApiTokenRow = typeof apiTokens.$inferInsert;

export type { ApiTokenRow };

/** Why a login link could not be exchanged. */
export type LinkRefusal = 'unknown' | 'used' | 'expired';

/** The one rule for a login link at `at` (ISO): null when it may open a session. */
export function linkRefusal(link: Pick<ApiTokenRow, 'revokedAt' | 'expiresAt'> | null, at: string): LinkRefusal | null {
  return !link ? 'unknown' : link.revokedAt !== null ? 'used' : link.expiresAt === null || link.expiresAt <= at ? 'expired' : null;
}

/** The rows a start sweeps away: links and sessions that ended over a day ago (the `auth.*` events keep the record). */
const SWEPT_AFTER_MS = 24 * 3600_000;

/** The kinds that end on their own: a login link and the session it opens. */
const ENDING_KINDS: Array<ApiTokenRow['kind']> = ['link', 'session'];

const BY_HASH = statement((b, { apiTokens: a }) =>
  b
    .select()
    .from(a)
    .where(eq(a.hash, sql.placeholder('hash'))),
);

/**
 * API tokens, the dashboard's one-time login links and the sessions they open, and on a control
 * panel the runtimes' tokens (`kind`): only a SHA-256 of each random 256-bit secret is kept (the
 * secret itself is shown once). On the runtime's SQLite (`onSqlite`) or the panel's PostgreSQL
 * (`onPostgres`): the same rows and rules, see dialect.ts.
 */
export class TokensStore<M extends Mode = Mode> {
  constructor(private readonly d: Dialect<M>) {}

  add(row: NewApiTokenRow, event: EventSpec<void> = null): Answer<M, void> {
    return this.d.write(function* (b, { apiTokens: a }) {
      yield* run(b.insert(a).values(row));
    }, event);
  }

  /** Every request with an API token looks it up once its 5 s in the verification cache run out. */
  byHash(hash: string): Answer<M, ApiTokenRow | null> {
    return this.d.read(() => firstOf(BY_HASH, { hash }));
  }

  /** The row a principal's `jti` names (revoked or not). */
  byId(id: string): Answer<M, ApiTokenRow | null> {
    return this.d.read((b, { apiTokens: a }) => first(b.select().from(a).where(eq(a.id, id))));
  }

  /**
   * Use up the login link with this hash and store the session it opens, in one transaction (the
   * link's row locked): of two exchanges of one link, one gets the session and the other `used`.
   * The event is written with the session.
   */
  exchangeLink(hash: string, now: Date, session: NewApiTokenRow, event: NewEvent | null = null): Answer<M, LinkRefusal | null> {
    const at = now.toISOString();
    const { locked } = this.d;
    return this.d.write(
      function* (b, { apiTokens: a }) {
        const refusal = linkRefusal(
          yield* first(
            locked(
              b
                .select()
                .from(a)
                .where(and(eq(a.hash, hash), eq(a.kind, 'link'))),
            ),
          ),
          at,
        );
        if (refusal) return refusal;
        yield* run(b.update(a).set({ revokedAt: at }).where(eq(a.hash, hash)));
        yield* run(b.insert(a).values(session));
        return null;
      },
      (refusal) => (refusal ? null : event),
    );
  }

  /**
   * At a start: end every login link not used yet, as if it had expired (the start prints its
   * own), and forget the links and sessions that ended over a day ago, so the table does not grow
   * by a row per start (the `auth.*` events keep the record). API and runtime tokens stay, revoked
   * or not: a panel lists its runtimes' revoked tokens and finds a principal's row by its id.
   */
  endLinks(now: Date): Answer<M, void> {
    const at = now.toISOString();
    const dayAgo = new Date(now.getTime() - SWEPT_AFTER_MS).toISOString();
    return this.d.write(function* (b, { apiTokens: a }) {
      yield* run(
        b
          .update(a)
          .set({ expiresAt: at })
          .where(and(eq(a.kind, 'link'), isNull(a.revokedAt), gt(a.expiresAt, at))),
      );
      yield* run(b.delete(a).where(and(inArray(a.kind, ENDING_KINDS), or(lte(a.expiresAt, dayAgo), lte(a.revokedAt, dayAgo)))));
    }, null);
  }

  /** The API and runtime tokens and the sessions not expired yet; login links are not listed (their events are the record). */
  list(now = new Date()): Answer<M, ApiTokenRow[]> {
    return this.d.read((b, { apiTokens: a }) =>
      rows(
        b
          .select()
          .from(a)
          .where(and(ne(a.kind, 'link'), or(isNull(a.expiresAt), gt(a.expiresAt, now.toISOString()))))
          .orderBy(a.createdAt),
      ),
    );
  }

  /**
   * Revoke the live tokens whose id or name this is; returns them as revoked. A token id
   * (`tok_…`, isTokenId) is never read as a name too: no name may have its form, but an older
   * row's may, and revoking one token must not revoke another. A name names API tokens only: a
   * user's sessions carry the user's name, and `token revoke ann` must not end user ann's logins
   * (a session ends by its id, or with `user rm`). `only`: of that kind and role alone (`panel
   * token revoke` ends a metrics token).
   */
  revoke(idOrName: string, o: { only?: Pick<ApiTokenRow, 'kind' | 'role'>; now?: Date } = {}): Answer<M, ApiTokenRow[]> {
    const { only } = o;
    const named = (a: typeof apiTokens) => (isTokenId(idOrName) ? eq(a.id, idOrName) : or(eq(a.id, idOrName), and(eq(a.name, idOrName), eq(a.kind, 'api'))));
    return this.revoking((a) => and(named(a), ...(only ? [eq(a.kind, only.kind), eq(a.role, only.role)] : [])), o.now);
  }

  private revoking(which: (a: typeof apiTokens) => SQL | undefined, now = new Date()): Answer<M, ApiTokenRow[]> {
    const at = now.toISOString();
    return this.d.write(
      (b, { apiTokens: a }) =>
        rows(
          b
            .update(a)
            .set({ revokedAt: at })
            .where(and(isNull(a.revokedAt), which(a)))
            .returning(),
        ),
      null,
    );
  }
}
