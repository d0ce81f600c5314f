// The shapes the page reads from the API and /ws. Kept by hand beside the server's own types
// (src/core/events.ts, src/state/types.ts): the page is a separate bundle that must not pull in
// server code, and it only reads the fields listed here.

export type AgentStatus = 'starting' | 'running' | 'completed' | 'stopped' | 'crashed' | 'restarting';
export type Severity = 'debug' | 'info' | 'warn' | 'error' | 'critical';
export type Role = 'admin' | 'viewer' | 'agent';

export interface Agent {
  id: string;
  name: string;
  kind: string;
  script: string | null;
  status: AgentStatus;
  pid: number | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  exitCode: number | null;
  restarts: number;
  progress: { done: number; total: number | null; unit: string; succeeded?: number | null; failed?: number | null };
  budget: { limitUsd: number | null; spentUsd: number; reservedUsd: number } | null;
  environment: string;
}

export interface IronEvent {
  seq: number;
  ts: string;
  agentId: string | null;
  type: string;
  severity: Severity;
  message: string;
  data: any;
}

export type WsFrame =
  | { type: 'snapshot'; seq: number; agents: Agent[]; events: IronEvent[]; truncated: boolean }
  | { type: 'event'; event: IronEvent; agent?: Agent }
  | { type: 'events'; items: Array<{ event: IronEvent; agent?: Agent }> };

export interface Costs {
  spentUsd: number;
  limitUsd: number | null;
  percentUsed: number | null;
  requests: number;
  avgPerUnitUsd: number | null;
  projectionUsd: number | null;
  projectionStatus: string;
  byModel: Array<{ model: string; provider: string; requests: number; costUsd: number; share: number }>;
  baseline: { model: string; costUsd: number; savedUsd: number } | null;
  series?: Array<[number, number]>;
  display: { usage: string; avgPerUnit: string | null; projection: string | null; status: string; baseline: string | null };
}

export interface Performance {
  throughput: { perHour: number; unit: string };
  llm: { calls: number; latencyMs: { p50: number; p95: number; p99: number } | null };
  tools: { calls: number; cacheHitRate: number | null };
  uptimePercent: number | null;
}

export interface Protection {
  piiLeaksBlocked: number;
  piiLeaksBlockedByType: Record<string, number>;
  piiWarned: number;
  unauthorizedActions: number;
  promptInjectionAttempts: number;
  monitored?: { pii: boolean; unauthorizedActions: boolean; promptInjection: boolean };
  latest?: { ts: string; preview: string; types: Record<string, number>; location: string } | null;
}

export type BreakerState = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

export interface Breaker {
  service: string;
  state: BreakerState;
  calls: number;
  blocked: number;
  failures: number;
  retryAfterMs: number | null;
  consecutiveFailures: number;
  lastFailure: string | null;
  fallbackActive: boolean;
  costSavedUsd: number;
  display: { saved: string; fallback: string; cacheHitRate: string };
}

export interface Secret {
  id: string;
  name: string;
  environment: string;
  maskedValue: string;
  createdAt: string;
  updatedAt: string;
}
