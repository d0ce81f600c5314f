import type { BudgetTracker } from '../budget/index.js';
import type { TokenService } from '../auth/index.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../core/logger.js';
import type { AppEnv, RawRoute } from '../server/index.js';
import type { LlmStore, StateManager } from '../state/index.js';
import type { PiiProtection } from '../protection/index.js';
import type { Hono } from 'hono';

// The contract between the runtime and its services, and nothing else: the services import
// these types, so the list of services lives in runtime.ts (no import cycle).

/** What a service (gateway, tool proxy, …) gets from the runtime. */
export interface ServiceContext {
  config: Config;
  state: StateManager;
  /** Every agent's budget: limits, spend and reservations (the gateway settles into it). */
  budgets: BudgetTracker;
  /** The LLM ledger and API tokens. */
  llm: LlmStore;
  /** PII protection: the gateway, the tool proxy and the supervisor all scan through it. */
  pii: PiiProtection;
  tokens: TokenService;
  logger: Logger;
  /** Graceful stop of a supervised agent (budget exhausted, PII block policy, …). */
  stopAgent(agentId: string, requestedBy: string): boolean;
  /** The server's base URL, known once it listens. */
  url(): string;
  /** iron-cage's own environment (IRON_CAGE_MASTER_KEY is read from here, never from config). */
  env: NodeJS.ProcessEnv;
  /**
   * Vault secrets the config refers to (`api_key: secret:NAME`): a service wants a name when it
   * is built and reads the current value per use; the vault fills them in and keeps them current.
   */
  secrets: { want(name: string): void; get(name: string): string | null; set(name: string, value: string | null): void; wanted(): string[] };
  /** Signal a supervised agent's own process if it handles the signal (secret rotation: SIGUSR1). */
  signalAgent(agentId: string, sig: NodeJS.Signals): 'sent' | 'not-running' | 'not-handled';
  /** Stop a supervised agent gracefully and start it again (fresh environment); false when none runs here. */
  restartAgent(agentId: string, why: string): boolean;
}

/** A piece of the runtime that serves HTTP and/or adds to each agent's environment. */
export interface Service {
  name: string;
  rawRoutes?: RawRoute[];
  apiRoutes?: Array<(app: Hono<AppEnv>) => void>;
  /** Routes under /api that take no token (POST /api/login); mounted before the token check. */
  publicRoutes?: Array<(app: Hono<AppEnv>) => void>;
  /** Extra environment for a supervised agent (e.g. OPENAI_BASE_URL, its secrets). Later services win. */
  agentEnv?(agentId: string, token: string): Record<string, string> | Promise<Record<string, string>>;
  /** Resolves once the service can serve (the vault: its master key tried); awaited before `announce`. */
  ready?: Promise<unknown>;
  /** Lines to say at start (e.g. "LLM calls go to the simulated provider"). */
  announce?(): void;
  close?(): Promise<void> | void;
}

export type ServiceFactory = (ctx: ServiceContext) => Service;
