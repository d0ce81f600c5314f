// The shapes the page reads from the API and /ws. Where the server's type is plain data with no
// server imports it is used as is (type-only: erased from the bundle); the rest are the fields
// the page reads, kept here.
import type { AgentView } from '../src/state/types.js';
import type { SecretView } from '../src/secrets/vault.js';

import type { Severity } from '../src/core/events.js';
export type { AgentStatus, Severity } from '../src/core/events.js';
export type Role = 'admin' | 'viewer' | 'agent';

/** The agent's status object, as the server defines it (type only: nothing of the server is bundled). */
export type Agent = AgentView;

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

/** A secret as the API shows it (masked): the server's own type. */
export type Secret = SecretView;
