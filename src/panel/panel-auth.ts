import {
  apiTokenName,
  BAD_CREDENTIALS,
  generateApiToken,
  LoginService,
  loginRoutes,
  newLoginLink,
  resolvedApiToken,
  userRoutes,
  wireUsers,
  type FailureCounter,
  type IssueOptions,
  type TokenService,
} from '../auth/index.js';
import type { NewEvent } from '../core/events.js';
import { ValidationError } from '../core/errors.js';
import { newTokenId } from '../core/ids.js';
import type { Logger } from '../core/logger.js';
import type { AppEnv } from '../server/index.js';
import type { LoginFailuresStore, TokensStore, UsersStore } from '../state/index.js';
import type { Outage } from './outage.js';

// Who may call a panel: the auth feature's TokenService, LoginService and routes over the
// PostgreSQL stores. A person's session is an opaque row (api_tokens kind 'session'), revocable
// and expiring, never a long-lived JWT: a one-time login link opens one (POST /api/session, as on
// a runtime), and so does a named user's password (POST /api/login), the row named after the user
// so that removing the user ends it. Runtime tokens are rows of kind 'runtime'.

type Hono = import('hono').Hono<AppEnv>;

export interface PanelAuthDeps {
  tokens: TokenService;
  tokenStore: TokensStore<'async'>;
  users: UsersStore<'async'>;
  /** Failed logins, counted in PostgreSQL: every replica holds a guesser back alike. */
  loginFailures: LoginFailuresStore;
  outage: Outage;
  logger: Logger;
  loginTokenTtlMinutes: number;
}

/** The auth events a runtime keeps in its event log go to the panel's log. */
const logged = (logger: Logger) => ({
  record: (e: NewEvent) => (e.severity === 'warn' ? logger.warn(e.message) : logger.info(e.message)),
});

/**
 * Point the token service at PostgreSQL and build the login and user routes.
 *
 * @example
 *   const auth = panelAuth({ tokens, tokenStore, users, outage, logger, loginTokenTtlMinutes: 480 });
 *   startServer({ publicRoutes: auth.publicRoutes, apiRoutes: auth.apiRoutes, … });
 */
export function panelAuth(d: PanelAuthDeps): { publicRoutes: Array<(app: Hono) => void>; apiRoutes: Array<(app: Hono) => void> } {
  d.tokens.resolveApiToken = async (hash) => {
    const row = await d.outage.run(() => d.tokenStore.byHash(hash));
    if (!row) return null;
    const resolved = resolvedApiToken(row);
    // A runtime token is nothing else, whatever its row says; anything else is never a runtime.
    if ((row.kind === 'runtime') !== (resolved.principal.role === 'runtime')) return null;
    return resolved;
  };
  wireUsers(d.tokens, { byId: (id) => d.outage.run(() => d.users.byId(id)) });

  // A password login opens a session row like a link's, named after its user.
  const sessions = {
    issue: async (o: IssueOptions): Promise<string> => {
      const { token, hash } = generateApiToken();
      const now = new Date();
      const expiresAt = new Date(now.getTime() + (o.ttlSeconds ?? d.loginTokenTtlMinutes * 60) * 1000).toISOString();
      // Only while the user is live, its row locked against a removal committing meanwhile.
      const userId = o.userId;
      if (userId === undefined) throw new Error('a panel session is opened for a user (IssueOptions.userId)');
      const opened = await d.outage.run(() =>
        d.users.openSession(userId, { id: newTokenId(), name: o.name, role: o.role, agentId: null, hash, createdAt: now.toISOString(), revokedAt: null, kind: 'session', expiresAt }),
      );
      if (!opened) throw BAD_CREDENTIALS();
      return token;
    },
  };
  const users = {
    add: (row: Parameters<UsersStore<'async'>['add']>[0]) => d.outage.run(() => d.users.add(row)),
    remove: (name: string) => d.outage.run(() => d.users.remove(name)),
    liveByName: (name: string) => d.outage.run(() => d.users.liveByName(name)),
    byId: (id: string) => d.outage.run(() => d.users.byId(id)),
    list: (o?: { removed?: boolean }) => d.outage.run(() => d.users.list(o)),
  };
  const login = new LoginService({
    users,
    tokens: sessions,
    state: logged(d.logger),
    ttlMinutes: d.loginTokenTtlMinutes,
    limits: (o) => pgFailures(d.loginFailures, d.outage, o),
  });
  const links = {
    byHash: (hash: string) => d.outage.run(() => d.tokenStore.byHash(hash)),
    exchangeLink: (hash: string, now: Date, session: Parameters<TokensStore<'async'>['exchangeLink']>[2], event: NewEvent) =>
      d.outage.run(async () => {
        const refusal = await d.tokenStore.exchangeLink(hash, now, session);
        if (!refusal) logged(d.logger).record(event);
        return refusal;
      }),
  };
  return {
    publicRoutes: [loginRoutes(login, { store: links, ttlMinutes: d.loginTokenTtlMinutes, renew: () => d.tokens.renew })],
    apiRoutes: [userRoutes({ users, tokens: d.tokens })],
  };
}

/** Failed logins of one kind (names typed, client addresses) counted in PostgreSQL, as LoginLimiter counts them in memory. */
function pgFailures(store: LoginFailuresStore, outage: Outage, o: { kind: 'name' | 'address'; maxFailures: number; windowMs: number }): FailureCounter {
  const k = (key: string) => `${o.kind}:${key}`;
  const blockedFor = async (key: string): Promise<number> => {
    const now = Date.now();
    const f = await outage.run(() => store.get(k(key), now, o.windowMs));
    if (!f || f.count < o.maxFailures) return 0;
    return Math.max(0, f.since + o.windowMs - now);
  };
  return {
    blockedFor,
    firstRefusal: async (key) => (await blockedFor(key)) > 0 && (await outage.run(() => store.markTold(k(key)))),
    fail: (key) => outage.run(() => store.fail(k(key), Date.now(), o.windowMs)),
    forgive: (key) => outage.run(() => store.forgive(k(key))),
    reset: (key) => outage.run(() => store.reset(k(key))),
  };
}

/**
 * A one-time admin login link to the panel (`/#login=…`), stored in PostgreSQL: the dashboard
 * exchanges it for a session exactly as on a runtime.
 */
export async function panelLoginLink(store: TokensStore<'async'>, o: { ttlMinutes: number; by: 'panel' | 'cli' }): Promise<string> {
  const { link, row } = newLoginLink(o);
  await store.add(row);
  return link.link;
}

/** What making a scraper's token answers: the token shown once (only its hash is kept). */
export interface CreatedMetricsToken {
  id: string;
  name: string;
  role: 'metrics';
  token: string;
}

/**
 * A `metrics` token for Prometheus (POST /api/tokens, `iron-cage panel token create`): it reads
 * GET /metrics and nothing else (every /api route and /ws answer it 403). Names as a runtime's
 * `iron-cage token create`: 1-64 letters, digits, spaces, dots, dashes, underscores, one live token each.
 *
 * @example
 *   const { token } = await createMetricsToken(store, 'prometheus');
 */
export async function createMetricsToken(store: Pick<TokensStore<'async'>, 'add' | 'list'>, rawName: string): Promise<CreatedMetricsToken> {
  const name = apiTokenName(rawName);
  if ((await store.list()).some((t) => t.name === name && t.revokedAt === null && t.kind === 'api'))
    throw new ValidationError(`name: a token named '${name}' already exists (revoke it first: DELETE /api/tokens/:id)`);
  const { token, hash } = generateApiToken();
  const id = newTokenId();
  await store.add({ id, name, role: 'metrics', agentId: null, hash, createdAt: new Date().toISOString(), revokedAt: null, kind: 'api', expiresAt: null });
  return { id, name, role: 'metrics', token };
}
