import type { AgentStatus, IronEvent } from '../../core/events.js';
import { microsToUsd } from '../../core/money.js';
import type * as schema from '../schema.js';
import type { AgentView, PausedRecord, SandboxView } from './types.js';

// Rows as the database holds them → the shapes the rest of the program sees.

export function toEvent(r: schema.EventRow): IronEvent {
  return {
    seq: r.seq,
    ts: r.ts,
    agentId: r.agentId,
    type: r.type,
    severity: r.severity,
    message: r.message,
    data: JSON.parse(r.data),
  } as IronEvent;
}

export function toView(r: schema.AgentRow): AgentView {
  return {
    id: r.id,
    name: r.name,
    calledName: null,
    kind: r.kind as AgentView['kind'],
    script: r.script,
    args: JSON.parse(r.args) as string[],
    status: r.status as AgentStatus,
    pid: r.pid,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    exitCode: r.exitCode,
    exitSignal: r.exitSignal,
    restarts: r.restarts,
    progress: { done: r.progressDone, total: r.progressTotal, unit: r.progressUnit, succeeded: r.progressSucceeded, failed: r.progressFailed },
    budget: r.limitMicros === null ? null : { limitUsd: microsToUsd(r.limitMicros), spentUsd: 0, reservedUsd: 0, waiting: 0 },
    environment: r.environment,
    paused: r.paused === null ? null : { ...(JSON.parse(r.paused) as PausedRecord), held: 0 },
    sandbox: r.sandbox === null ? null : (JSON.parse(r.sandbox) as SandboxView),
    stored: { bytes: 0, items: 0 },
  };
}
