import type { AgentStatus, Progress } from '../../core/events.js';

export type AgentKind = 'supervised' | 'external';

/**
 * Live budget figures for status objects (spent and reserved change on every LLM call; the
 * agents table holds only the limit). The gateway's budget tracker is one; the composition
 * root hands it to the StateManager when it opens the database.
 */
export interface LiveBudgets {
  snapshot(agentId: string): { limitMicros: number | null; spentMicros: number; reservedMicros: number; waitingCalls?: number; state?: string } | null;
}

/** Calls waiting at a paused agent's gate now (src/watch), for status objects. */
export type LiveHeld = (agentId: string) => number;

/** The status object REST and WebSocket clients see (camelCase, dollars as numbers). */
export interface AgentView {
  id: string;
  /** Its name in the cage (`--name`, else the script's): what central budgets and tokens match. */
  name: string;
  /**
   * The name the agent gave itself through its SDK (`AgentRuntime(name=…)`), as this process
   * heard it (the `agent.named` event keeps it); null: it gave none. Shown beside or instead of
   * `name`, never matched: an agent cannot rename itself out of a budget.
   */
  calledName: string | null;
  kind: AgentKind;
  script: string | null;
  args: string[];
  status: AgentStatus;
  pid: number | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  exitCode: number | null;
  exitSignal: string | null;
  restarts: number;
  progress: Progress;
  /** `waiting`: calls waiting for in-flight calls to free the budget they hold. */
  budget: { limitUsd: number | null; spentUsd: number; reservedUsd: number; waiting: number } | null;
  /** The run's secrets environment (which of the vault's secrets it gets). */
  environment: string;
  /** Paused (src/watch): its next LLM and tool calls wait at the gate until an admin resumes it; `held`: calls waiting now. */
  paused: PausedView | null;
  /** What the agent may touch, as its last launch said (src/sandbox); null: not known. */
  sandbox: SandboxView | null;
  /** What it keeps stored of Responses and Conversations state: bytes as stored, and items (`responses.max_stored_*_per_agent`). */
  stored: { bytes: number; items: number };
}

/**
 * What a supervised agent may touch: sandboxed, the folders it may write and read (the rest of
 * the system read-only, `hidden` empty to it, iron-cage's own files invisible), what it may
 * reach, its limits; or not sandboxed, and why.
 */
export type SandboxView =
  | {
      sandboxed: true;
      write: string[];
      read: string[];
      hidden: string[];
      /** Addresses the agent may connect to: the cage's own port. */
      reach: string[];
      /** `tmpMb`: each in-memory folder's size (absent in a record from before it was sized). */
      limits: { memoryMb: number; processes: number; openFiles: number; fileSizeMb: number; cpuSeconds: number | null; tmpMb?: number };
    }
  | { sandboxed: false; why: string };

/** Why an agent was paused: a detection of the watch (src/watch) or a person. */
export type PauseCause = 'loop' | 'stall' | 'spike' | 'manual';

/** What `agents.paused` keeps (JSON): who paused it, when and why. */
export interface PausedRecord {
  since: string;
  by: string;
  reason: string;
  cause: PauseCause;
}

export interface PausedView extends PausedRecord {
  /** Calls waiting at the gate now. */
  held: number;
}

export interface NewAgent {
  id: string;
  name: string;
  kind: AgentKind;
  script: string | null;
  args: string[];
  limitMicros: number | null;
  /** Default 'development'. */
  environment?: string;
}

/** Fields of an agent the supervisor changes as it runs. */
export interface AgentPatch {
  status?: AgentStatus;
  pid?: number | null;
  startedAt?: string | null;
  endedAt?: string | null;
  exitCode?: number | null;
  exitSignal?: string | null;
  restarts?: number;
  progress?: Progress;
  limitMicros?: number | null;
  /** Paused (a record) or resumed (null). */
  paused?: PausedRecord | null;
  sandbox?: SandboxView | null;
}

export interface Checkpoint {
  id: number;
  agentId: string;
  createdAt: string;
  state: unknown;
}
