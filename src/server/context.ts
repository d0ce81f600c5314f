import type { Logger } from '../core/logger.js';
import type { Principal, TokenService } from '../auth/index.js';
import type { StateManager } from '../state/index.js';
import type { HostGuard } from './hosts.js';

/** What the server needs from the runtime to control agents (it never imports the supervisor). */
export interface AgentControl {
  /** Starts a graceful stop; false when no supervisor here runs that agent. */
  stop(agentId: string, requestedBy: string): boolean;
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

export interface ServerDeps {
  state: StateManager;
  tokens: TokenService;
  control: AgentControl;
  guard: HostGuard;
  logger: Logger;
  version: string;
  startedAt: number;
  /** Extra Hono routes mounted under /api (tokens, budgets, breakers, …). */
  apiRoutes?: Array<(app: import('hono').Hono<AppEnv>) => void>;
  /** Routes under /api that need no token (login), mounted before the token check. */
  publicRoutes?: Array<(app: import('hono').Hono<AppEnv>) => void>;
  rawRoutes?: RawRoute[];
  /**
   * The PII step for what an agent reports through the SDK (`iron_cage.event`), before it is
   * stored, printed or broadcast: its message (`field` 'message') and its data as one JSON text
   * (`field` 'data': keys, strings and numbers scanned, valid JSON back). What comes back is
   * always redacted, whatever the mode. Absent: stored as sent.
   */
  scanEventText?: (agentId: string, text: string, field: 'message' | 'data') => string;
}

export type AppEnv = { Variables: { principal: Principal } };
