import type { Logger } from '../core/logger.js';
import type { Principal, TokenService } from '../auth/index.js';
import type { StateManager } from '../state/index.js';
import type { HostGuard } from './hosts.js';

/** What the server needs from the runtime to control agents (it never imports the supervisor). */
export interface AgentControl {
  /** Starts a graceful stop; false when no supervisor here runs that agent. */
  stop(agentId: string, requestedBy: string): boolean;
}

export interface ServerDeps {
  state: StateManager;
  tokens: TokenService;
  control: AgentControl;
  guard: HostGuard;
  logger: Logger;
  version: string;
  startedAt: number;
}

export type AppEnv = { Variables: { principal: Principal } };
