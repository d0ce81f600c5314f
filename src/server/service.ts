import type { Hono } from 'hono';
import type { Config } from '../config/index.js';
import type { Logger } from '../core/logger.js';
import type { ConfigRef, RefSource } from '../domain/secrets/index.js';
import type { StateManager } from '../state/index.js';
import type { AgentControl, AppEnv, Authenticator, RawRoute, UpgradeRoute } from './context.js';

// The contract between the runtime (the composition root) and the features it starts. It sits
// here, below every feature, so a feature's factory (`<feature>/<feature>.service.ts`) imports
// it without an arrow back up to runtime/. A factory takes the part of the Platform it uses
// (`Pick<Platform, …>`) plus what it needs of other features, named; the runtime hands both.

/** What the runtime offers every service: the process's platform, nothing of another feature. */
export interface Platform {
  config: Config;
  state: StateManager;
  tokens: Authenticator;
  logger: Logger;
  /** The server's base URL, known once it listens. */
  url(): string;
  /** iron-cage's own environment (IRON_CAGE_MASTER_KEY is read from here, never from config). */
  env: NodeJS.ProcessEnv;
  /**
   * Secrets the config refers to (`api_key: secret:NAME`, or `panel:NAME` for the control
   * panel's): a service wants one when it is built and reads the current value per use; the
   * vault (or the panel's poll) fills them in and keeps them current, in memory only.
   */
  secrets: SecretRefsLike;
  /** The supervised agents of this process. */
  agents: AgentControl;
}

export interface SecretRefsLike {
  want(ref: ConfigRef): void;
  get(ref: ConfigRef): string | null;
  set(ref: ConfigRef, value: string | null): void;
  wanted(source: RefSource): string[];
}

/** A feature as the runtime starts it: HTTP routes, additions to each agent's environment, start-up lines, shutdown. */
export interface Service {
  name: string;
  rawRoutes?: RawRoute[];
  /** WebSocket endpoints of its own (the gateway's `/v1/responses`). */
  upgradeRoutes?: UpgradeRoute[];
  apiRoutes?: Array<(app: Hono<AppEnv>) => void>;
  /** Routes under /api that take no token (POST /api/login); mounted before the token check. */
  publicRoutes?: Array<(app: Hono<AppEnv>) => void>;
  /** Extra environment for a supervised agent (e.g. OPENAI_BASE_URL, its secrets). Later services win. */
  agentEnv?(agentId: string, token: string): Record<string, string> | Promise<Record<string, string>>;
  /** Resolves once the service can serve (the vault: its master key tried); awaited before `announce`. */
  ready?: Promise<unknown>;
  /** Lines to say at start (e.g. "LLM calls go to the simulated provider"). */
  announce?(): void;
  /** Shutting down, before the server closes: let go of calls held waiting (each gets its answer, not a reset connection). */
  stopping?(): Promise<void> | void;
  close?(): Promise<void> | void;
}
