import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { createHmac, hkdfSync, randomUUID } from 'node:crypto';
import { printedCommand } from '../core/invocation.js';
import { MissingTokenError, UnauthorizedError } from '../core/errors.js';
import { ROLES, type CredentialHeaders, type Principal, type Role, type TokenRole } from '../core/roles.js';
import { hashApiToken, isApiToken } from './api-tokens.js';

/**
 * The command that prints a new login link, until the server knows how it was started and where
 * it listens (`renewCommand`): a runtime's and a panel's.
 */
export const RENEW_RUNTIME = 'iron-cage dashboard';
export const RENEW_PANEL = 'iron-cage panel link';

/**
 * The command that prints a new login link for the server at `url`, as this process was started
 * (`npx iron-cage` in a clone…), with the port and address when they are not the defaults. Said
 * to whoever holds a refused link, so it names what is local (`local`: a state file) only for a
 * server on loopback, where that is the person at this machine, or when `here` (a terminal).
 * @example renewCommand('dashboard', 'http://127.0.0.1:9000', { '--db': 'run.db' }) // 'npx iron-cage dashboard --db run.db --port 9000' (through npx)
 */
export function renewCommand(sub: 'dashboard' | 'panel link', url: string, local: Readonly<Record<string, string | undefined>> = {}, here = false): string {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost';
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  return printedCommand(sub, { ...(loopback || here ? local : {}), '--port': port === '8080' ? undefined : port, '--host': loopback && host === '127.0.0.1' ? undefined : host });
}

export interface IssueOptions {
  role: TokenRole;
  name: string;
  agentId?: string;
  /** A named user's login token (carried as `uid`, so removing the user revokes it). */
  userId?: string;
  /** Seconds until `exp`. Agent tokens default to AGENT_TOKEN_DEFAULT_TTL_SECONDS and may not pass AGENT_TOKEN_MAX_TTL_SECONDS. */
  ttlSeconds?: number;
}

/**
 * How long an agent JWT can live at most: an agent token is a credential the agent's process
 * (and anything it leaks to) holds, so it always carries an `exp`, also when its run is revoked
 * earlier. A year is the ceiling for `agent_token_ttl_hours`; the default is a day.
 */
export const AGENT_TOKEN_MAX_TTL_SECONDS = 365 * 24 * 3600;
export const AGENT_TOKEN_DEFAULT_TTL_SECONDS = 24 * 3600;

/** A supervised agent process's token and the one way to end it. */
export interface RunToken {
  token: string;
  /** Revoke it: refused everywhere from now on, its open WebSockets closed with 4401. Idempotent. */
  end(): void;
}

const first = (v: string | string[] | null | undefined): string | undefined => (Array.isArray(v) ? v[0] : (v ?? undefined));

const ISSUER = 'iron-cage';
const CACHE_MAX = 10_000;

/**
 * Looks an API token up by its hash; null when unknown. `revoked` tokens are refused, and so are
 * ones past `expiresAt` and login links (`kind: 'link'`), which only POST /api/session accepts.
 */
export type ApiTokenResolver = (hash: string) => ResolvedApiToken | null | Promise<ResolvedApiToken | null>;

/** An API token's row as the check needs it (SQLite answers at once, PostgreSQL with a promise). */
export interface ResolvedApiToken {
  principal: Principal;
  revoked: boolean;
  kind?: 'api' | 'link' | 'session' | 'runtime';
  expiresAt?: string | null;
}

/** A live user's current name and role by id; null once removed (or never known). */
export type UserResolver = (userId: string) => LiveUser | null | Promise<LiveUser | null>;

export interface LiveUser {
  name: string;
  role: 'admin' | 'viewer';
}

// API tokens and users can be revoked from another process; a short cache bounds how long that
// takes. A process told of every revocation (a panel replica while its feed listens) trusts longer.
export const API_TOKEN_CACHE_MS = 5_000;

/** JWT (HS256) and API tokens. Verification results are cached: the gateway checks a token per call. */
export class TokenService {
  /** Each token verified: who it is, until when, and when it was looked up. */
  private readonly cache = new Map<string, { principal: Principal; expMs: number; at: number }>();
  /** How long an API token or a user's token looked up is trusted before it is looked up again. */
  private trustMs = API_TOKEN_CACHE_MS;
  /**
   * Counts the forgettings: a lookup that began before one is not remembered (it may have read a
   * row revoked meanwhile, whose revocation it would otherwise outlive).
   */
  private generation = 0;
  resolveApiToken: ApiTokenResolver = () => null;
  resolveUser: UserResolver = () => null;
  private readonly invalidated = new Set<() => void>();

  private proofKey: Buffer | null = null;
  /**
   * This process's id, carried by the tokens of the runs it supervises: a run token from an
   * earlier iron-cage process (same signing key) names another instance and is refused.
   */
  private readonly instance = randomUUID();
  /** jti of every run token still live; a run token is good only while its jti is here. */
  private readonly liveRuns = new Set<string>();

  /**
   * @param renew the command that prints a new login link where these tokens live, said when a
   *   dashboard session has expired (`iron-cage dashboard` on a runtime, `iron-cage panel link` on a panel)
   */
  constructor(
    private readonly key: Uint8Array,
    /** Set again by the runtime or panel once it listens (`renewCommand`). */
    public renew = RENEW_RUNTIME,
  ) {}

  /**
   * Proof that this process holds the signing key, for a client that does not trust it yet (the
   * CLI looking for the server of its database): an HMAC of the client's nonce under a key
   * derived for this one purpose, so an answer can never stand in for a token's signature.
   *
   * @example
   *   const ok = tokens.proof(nonce) === answer.proof; // the server at that address holds our key
   */
  proof(nonce: string): string {
    this.proofKey ??= Buffer.from(hkdfSync('sha256', this.key, new Uint8Array(0), 'iron-cage server proof v1', 32));
    return createHmac('sha256', this.proofKey).update(nonce).digest('hex');
  }

  /** Forget cached verifications (after a revocation in this process: the revoked token is refused from the next request on) and tell the listeners. */
  invalidate(): void {
    this.generation++;
    this.cache.clear();
    for (const fn of this.invalidated) fn();
  }

  /**
   * Trust what is looked up for `ms` (API_TOKEN_CACHE_MS unless every revocation reaches this
   * process as it happens). Shorter: what was verified more than `ms` ago is looked up again, as
   * if it had never been trusted longer; longer: what is cached keeps its end (a flapping promise
   * does not empty the cache each time); `forget`: nothing cached is kept. The listeners are not
   * told (nothing was revoked).
   */
  trustFor(ms: number, o: { forget?: boolean } = {}): void {
    const shorter = ms < this.trustMs;
    this.trustMs = ms;
    // Forget: what was verified may have been revoked unheard (the word lost on the way).
    if (o.forget) {
      this.generation++;
      this.cache.clear();
      return;
    }
    if (!shorter) return;
    const now = Date.now();
    for (const [token, hit] of this.cache) {
      hit.expMs = Math.min(hit.expMs, hit.at + ms);
      if (hit.expMs <= now) this.cache.delete(token);
    }
  }

  /** Hear of `invalidate()` (the WebSocket hub re-checks its clients at once); returns the unsubscribe. */
  onInvalidate(fn: () => void): () => void {
    this.invalidated.add(fn);
    return () => this.invalidated.delete(fn);
  }

  /** A person's or a service's token. Agent tokens are run-bound: see issueRun. */
  async issue(o: IssueOptions): Promise<string> {
    if (o.role === 'agent') throw new Error('agent tokens are bound to a run: use issueRun');
    return (await this.sign(o)).token;
  }

  /**
   * The token of one supervised agent process: good only while `end()` has not been called and
   * only in this iron-cage process (a restart of iron-cage refuses it), and never past its `exp`.
   *
   * @example
   *   const run = await tokens.issueRun({ name: id, agentId: id, ttlSeconds: 86_400 });
   *   spawnAgent({ IRON_CAGE_TOKEN: run.token });
   *   proc.on('exit', () => run.end()); // its sockets close with 4401, every route refuses it
   */
  async issueRun(o: { name: string; agentId: string; ttlSeconds?: number }): Promise<RunToken> {
    return this.bound(await this.sign({ role: 'agent', ...o }, this.instance));
  }

  /**
   * A token this process uses itself (the demo's presenter controls, its own calls to the API):
   * bound to this process like a run's, so it is worth nothing once the process ends, whatever
   * its signing key; never printed. `end()` revokes it earlier.
   *
   * @example
   *   const own = await tokens.issueOwn({ role: 'admin', name: 'runtime' });
   */
  async issueOwn(o: { role: 'admin' | 'viewer'; name: string }): Promise<RunToken> {
    return this.bound(await this.sign(o, this.instance));
  }

  /** A token signed for this process, good while its jti is live here. */
  private bound({ token, jti }: { token: string; jti: string }): RunToken {
    this.liveRuns.add(jti);
    return {
      token,
      end: () => {
        if (this.liveRuns.delete(jti)) this.invalidate();
      },
    };
  }

  private async sign(o: IssueOptions, run?: string): Promise<{ token: string; jti: string }> {
    if (o.role === 'agent' && !o.agentId) throw new Error('agent tokens are scoped to an agent id');
    let ttl = o.ttlSeconds;
    if (o.role === 'agent') {
      ttl ??= AGENT_TOKEN_DEFAULT_TTL_SECONDS;
      if (ttl > AGENT_TOKEN_MAX_TTL_SECONDS) throw new Error(`agent tokens live at most ${AGENT_TOKEN_MAX_TTL_SECONDS} s`);
    }
    const jti = randomUUID();
    const claims = { role: o.role, name: o.name, ...(o.agentId ? { agent: o.agentId } : {}), ...(o.userId ? { uid: o.userId } : {}), ...(run ? { run } : {}) };
    // One reading of the clock for both: read twice, a second could pass between them and the
    // token would live a second longer than its ttl says.
    const iat = Math.floor(Date.now() / 1000);
    let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setIssuedAt(iat).setJti(jti);
    if (ttl !== undefined) jwt = jwt.setExpirationTime(iat + ttl);
    return { token: await jwt.sign(this.key), jti };
  }

  private remember(token: string, principal: Principal, expMs: number, generation: number): void {
    if (generation !== this.generation) return;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(token, { principal, expMs, at: Date.now() });
  }

  /**
   * The one token check of every surface: take the token from `?token=` (WebSockets), else
   * `Authorization: Bearer …` (OpenAI SDK, our SDK), else `x-api-key` (Anthropic SDK), and
   * verify it. A token verified before comes back synchronously, so the gateway pays no
   * promise per call; otherwise a Promise. Throws `MissingTokenError` (synchronously) when no
   * token was sent, and rejects with `UnauthorizedError` when the token is bad.
   *
   * @example
   *   const p = tokens.authenticate(req.headers);
   *   const principal = p instanceof Promise ? await p : p;
   */
  authenticate(headers: CredentialHeaders, queryToken?: string | null): Principal | Promise<Principal> {
    const token = this.credential(headers, queryToken);
    if (!token) throw new MissingTokenError();
    return this.cached(token) ?? this.verify(token);
  }

  /** The token a request presents, where `authenticate` looks for it; null when none. */
  credential(headers: CredentialHeaders, queryToken?: string | null): string | null {
    return queryToken ?? tokenFromHeaders(first(headers.authorization), first(headers['x-api-key']));
  }

  /** Synchronous fast path: a token verified before and still valid. */
  private cached(token: string): Principal | null {
    const hit = this.cache.get(token);
    return hit && hit.expMs > Date.now() ? hit.principal : null;
  }

  async verify(token: string): Promise<Principal> {
    const hit = this.cache.get(token);
    if (hit && hit.expMs > Date.now()) return hit.principal;
    if (hit) this.cache.delete(token);
    const generation = this.generation;
    if (isApiToken(token)) {
      const found = await this.resolveApiToken(hashApiToken(token));
      if (!found) throw new UnauthorizedError('unknown API token');
      if (found.kind === 'link') throw new UnauthorizedError('a login link is not a token: open it in a browser (the dashboard exchanges it for a session)');
      const what = found.kind === 'session' ? 'this dashboard session' : found.kind === 'runtime' ? 'this runtime token' : 'this API token';
      if (found.revoked) throw new UnauthorizedError(`${what} has been revoked`);
      const expMs = found.expiresAt ? Date.parse(found.expiresAt) : Number.POSITIVE_INFINITY;
      if (expMs <= Date.now())
        throw new UnauthorizedError(`${what} has expired${found.kind === 'session' ? `: run \`${this.renew}\` for a new login link` : ''}`, found.kind === 'session' ? { renew: this.renew } : {});
      this.remember(token, found.principal, Math.min(expMs, Date.now() + this.trustMs), generation);
      return found.principal;
    }
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, algorithms: ['HS256'] });
      const role = payload.role;
      if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) throw new UnauthorizedError('token has no valid role');
      const agentId = typeof payload.agent === 'string' ? payload.agent : null;
      if (role === 'agent' && !agentId) throw new UnauthorizedError('agent token is not scoped to an agent');
      const principal: Principal = { role: role as Role, agentId, name: String(payload.name ?? role), jti: String(payload.jti ?? '') };
      // Every agent JWT this version signs is bound to a run; one without (an older version's,
      // with no exp either) would otherwise reach everything its agent could, forever.
      if (role === 'agent' && payload.run === undefined)
        throw new UnauthorizedError('this agent token is not bound to a run (an older iron-cage made it); restart the agent under this iron-cage, or use an API token from `iron-cage token create`');
      if (payload.run !== undefined) this.assertRunLive(payload.run, principal.jti, principal.role);
      const expMs = payload.exp ? payload.exp * 1000 : Number.POSITIVE_INFINITY;
      if (typeof payload.uid === 'string') {
        // A user's token is good only while the user is: its name and role come from the live row.
        const user = await this.resolveUser(payload.uid);
        if (!user) throw new UnauthorizedError('this user has been removed');
        if (role === 'agent') throw new UnauthorizedError('token has no valid role');
        Object.assign(principal, { role: user.role, name: user.name, userId: payload.uid });
        this.remember(token, principal, Math.min(expMs, Date.now() + this.trustMs), generation);
        return principal;
      }
      this.remember(token, principal, expMs, generation);
      return principal;
    } catch (e) {
      if (e instanceof UnauthorizedError) throw e;
      if (e instanceof joseErrors.JWTExpired) throw new UnauthorizedError('token has expired');
      throw new UnauthorizedError('token is not valid for this iron-cage');
    }
  }

  private assertRunLive(run: unknown, jti: string, role: Role): void {
    if (role !== 'agent') {
      if (run !== this.instance || !this.liveRuns.has(jti)) throw new UnauthorizedError('this token belonged to an iron-cage process that has ended');
      return;
    }
    if (run !== this.instance) throw new UnauthorizedError('this agent token belongs to a run of an earlier iron-cage process');
    if (!this.liveRuns.has(jti)) throw new UnauthorizedError("this agent token's run has ended");
  }
}

/** `Authorization: Bearer …` (OpenAI SDK, our SDK) or `x-api-key` (Anthropic SDK). */
function tokenFromHeaders(authorization: string | undefined | null, apiKey: string | undefined | null): string | null {
  if (authorization) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (m) return m[1]!;
  }
  return apiKey ? apiKey.trim() || null : null;
}
