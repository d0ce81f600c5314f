import type { Logger } from '../core/logger.js';
import type { CredentialHeaders, Principal } from '../core/roles.js';
import type { HostGuard } from './hosts.js';

/** What the server and the services may do to the agents this process supervises (they never import the supervisor). */
export interface AgentControl {
  /** Starts a graceful stop (an admin, budget exhausted, PII block policy, …); false when no supervisor here runs that agent. */
  stop(agentId: string, requestedBy: string): boolean;
  /** Signal the agent's own process if it handles the signal (secret rotation: SIGUSR1). */
  signal(agentId: string, sig: NodeJS.Signals): 'sent' | 'not-running' | 'not-handled';
  /** Stop it gracefully and start it again (fresh environment); false when none runs here. */
  restart(agentId: string, why: string): boolean;
}

/**
 * A path prefix served by plain Node request handling instead of Hono: the hot paths (the LLM
 * gateway, the tool egress proxy) stream bodies and must not pay for Request/Response objects.
 * The Host guard has already run; the handler owns the response, errors included.
 */
export interface RawRoute {
  prefix: string;
  handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void;
}

/**
 * A WebSocket endpoint other than the hub's `/ws`, at one path (the LLM gateway's Responses API
 * socket, `/v1/responses`). The Host and Origin guards have already run; the handler completes
 * or refuses the upgrade itself (an answer written to `socket` before it is a WebSocket).
 */
export interface UpgradeRoute {
  path: string;
  handle(req: import('node:http').IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void;
}

/**
 * How the server tells who calls (auth/'s TokenService is the one implementation): the server
 * checks roles on the Principal it gets and never learns how a token is made or stored.
 */
export interface Authenticator {
  /** The caller of these headers (or `?token=` on a WebSocket upgrade); synchronous for a token seen before. Throws MissingTokenError or UnauthorizedError. */
  authenticate(headers: CredentialHeaders, queryToken?: string | null): Principal | Promise<Principal>;
  /** The token a request presents, where `authenticate` looks for it; null when none. */
  credential(headers: CredentialHeaders, queryToken?: string | null): string | null;
  /** Check a token again (a live WebSocket's, after a revocation). */
  verify(token: string): Promise<Principal>;
  /** Proof that this process holds the signing key (GET /api/health?nonce=). */
  proof(nonce: string): string;
  /** Hear of revocations in this process; returns the unsubscribe. */
  onInvalidate(fn: () => void): () => void;
  /** The command that prints a new login link, as this server was started (GET /api/health says it: the page shows it). */
  readonly renew?: string;
}

/**
 * What the WebSocket hub (`/ws`) sends, item by item: the hub owns the sockets (auth, per-token
 * caps, re-checks, heartbeats, back-pressure) and a source says what goes through them. Items
 * heard in one tick are handed to `frames` together, once per audience.
 */
export interface FeedSource<T> {
  /** Hear new items; returns the unsubscribe. */
  subscribe(fn: (item: T) => void): () => void;
  /** The first frame a client gets (a snapshot, or everything after `after`), built synchronously so nothing slips between it and the live feed. */
  welcome(principal: Principal, after: number | null): Buffer;
  /** Which clients get the same frames: one key per audience (e.g. `*`, or one agent's id). */
  audience(principal: Principal): string;
  /** The frames of a burst of items for one audience (none: nothing to send it). */
  frames(items: T[], audience: string): Buffer[];
}

export interface ServerDeps {
  tokens: Authenticator;
  guard: HostGuard;
  logger: Logger;
  version: string;
  startedAt: number;
  /** What `/ws` sends: the runtime's event bus (StateFeed) or the panel's landed batches. */
  feed: FeedSource<unknown>;
  /** Set on a control panel: GET /api/health and /api/whoami say `mode: 'panel'` so the page knows where it runs. */
  mode?: 'panel';
  /** What GET /api/health says beyond status, version and uptime (the runtime: its agents). */
  health?: () => Record<string, unknown>;
  /**
   * The paths a runtime token may call (the panel's telemetry); every other route, and `/ws`,
   * refuses it with 403. Absent: none.
   */
  runtimePaths?: readonly string[];
  /** Paths whose bodies may be larger than MAX_BODY_BYTES (the panel's telemetry batches), in bytes. */
  bodyLimits?: Readonly<Record<string, number>>;
  /** Extra Hono routes mounted under /api (agents, tokens, budgets, breakers, …). */
  apiRoutes?: Array<(app: import('hono').Hono<AppEnv>) => void>;
  /** Routes under /api that need no token (login), mounted before the token check. */
  publicRoutes?: Array<(app: import('hono').Hono<AppEnv>) => void>;
  rawRoutes?: RawRoute[];
  /** WebSocket endpoints besides `/ws`, by path. */
  upgradeRoutes?: UpgradeRoute[];
  /**
   * Health probes (a panel's /healthz and /readyz), answered before the Host check: a load
   * balancer or Kubernetes asks by the replica's own address, and the answer says only whether
   * this process serves.
   */
  probes?: RawRoute[];
}

export type AppEnv = { Variables: { principal: Principal } };
