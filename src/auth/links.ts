import { UnauthorizedError } from '../core/errors.js';
import { newTokenId } from '../core/ids.js';
import type { NewEvent } from '../core/events.js';
import type { NewApiTokenRow, TokensStore } from '../state/index.js';
import { generateApiToken, hashApiToken } from './api-tokens.js';
import type { LoginResult } from './login.js';

// The dashboard link iron-cage prints is not a credential: it is a one-time login, good for a
// few minutes, that the page exchanges (POST /api/session) for a session, an API token of kind
// `session` with an expiry, listed and revocable with the API tokens. A link copied from old
// logs has been used, has expired, or was voided by a later start: it opens nothing.
//
// Why the session lives in the tab's sessionStorage and travels in `Authorization`, not in a
// cookie: a request from another site never carries it, so there is nothing to forge (no CSRF,
// no SameSite subtleties for the WebSocket), and the page serves no third-party script (its
// Content-Security-Policy allows only its own) that could read it. It is gone when the tab is.

/** What a link or a session is named in the token list. */
export const LINK_NAME = 'login link';
export const SESSION_NAME = 'dashboard session';

export interface LoginLink {
  /** The secret the URL carries (`/#login=…`); shown once, only its hash is stored. */
  link: string;
  id: string;
  expiresAt: string;
}

/** What a login needs of where links and sessions are kept (the runtime's SQLite or the panel's PostgreSQL). */
export type LinkStore = Pick<TokensStore, 'byHash' | 'exchangeLink'>;

/**
 * A new one-time admin login link: the secret, and the row (hash and expiry) to store with its
 * event. mintLoginLink stores it in SQLite; the panel stores the same row in PostgreSQL.
 */
export function newLoginLink(o: { ttlMinutes: number; by: 'runtime' | 'cli' | 'panel'; now?: Date }): { link: LoginLink; row: NewApiTokenRow; event: NewEvent } {
  const now = o.now ?? new Date();
  const { token, hash } = generateApiToken();
  const id = newTokenId();
  const expiresAt = new Date(now.getTime() + o.ttlMinutes * 60_000).toISOString();
  return {
    link: { link: token, id, expiresAt },
    row: { id, name: LINK_NAME, role: 'admin', agentId: null, hash, createdAt: now.toISOString(), revokedAt: null, kind: 'link', expiresAt },
    // DEBUG: the link is the start line's (or `iron-cage dashboard`'s) own output, and the session
    // it opens is the one line per viewer (auth.session_opened); a second line per viewer is noise.
    event: {
      agentId: null,
      type: 'auth.link_created',
      severity: 'debug',
      message: `Dashboard login link ${id} made (one use, until ${expiresAt})`,
      data: { tokenId: id, role: 'admin', expiresAt, by: o.by },
    },
  };
}

/**
 * A new one-time admin login link, stored (hashed) with its expiry.
 *
 * @example
 *   const l = mintLoginLink(store, { ttlMinutes: 15, by: 'runtime' });
 *   logger.info(`dashboard ${url}/#login=${l.link}`);
 */
export function mintLoginLink(store: TokensStore<'sync'>, o: { ttlMinutes: number; by: 'runtime' | 'cli'; now?: Date }): LoginLink {
  const { link, row, event } = newLoginLink(o);
  store.add(row, event);
  return link;
}

const REFUSED = {
  unknown: 'this login link is not one this iron-cage made',
  used: 'this login link has been used already (each works once)',
  expired: 'this login link has expired',
} as const;

/**
 * Exchange a login link for a session: the link is used up and the session stored in one
 * transaction, so a link opens at most one session. Throws UnauthorizedError saying why not.
 *
 * @example
 *   const s = openSession(store, link, { ttlMinutes: 480, address: '127.0.0.1', renew: RENEW_RUNTIME });
 *   // s.token: send as Authorization: Bearer …, until s.expiresAt or its revocation
 */
export async function openSession(store: LinkStore, link: string, o: { ttlMinutes: number; address: string; renew: string; now?: Date }): Promise<LoginResult> {
  const now = o.now ?? new Date();
  const { token, hash } = generateApiToken();
  const id = newTokenId();
  const expiresAt = new Date(now.getTime() + o.ttlMinutes * 60_000).toISOString();
  const linkHash = hashApiToken(link);
  const linkId = (await store.byHash(linkHash))?.id ?? '';
  const refusal = await store.exchangeLink(
    linkHash,
    now,
    { id, name: SESSION_NAME, role: 'admin', agentId: null, hash, createdAt: now.toISOString(), revokedAt: null, kind: 'session', expiresAt },
    {
      agentId: null,
      type: 'auth.session_opened',
      severity: 'info',
      message: `Dashboard opened from ${o.address} with a one-time login link (session ${id}, until ${expiresAt})`,
      data: { tokenId: id, linkId, role: 'admin', expiresAt, address: o.address },
    },
  );
  if (refusal) throw new UnauthorizedError(`${REFUSED[refusal]}: run \`${o.renew}\` for a new one`, { renew: o.renew });
  return { token, role: 'admin', name: SESSION_NAME, expiresAt };
}
