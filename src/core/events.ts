// The one event shape. Every state change becomes exactly one of these: persisted by the
// StateManager (which assigns `seq`), then broadcast to the terminal, WebSocket clients and
// anyone else subscribed. `data` is typed per `type`.

export const SEVERITIES = ['debug', 'info', 'warn', 'error', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export type AgentStatus = 'starting' | 'running' | 'completed' | 'stopped' | 'crashed';
export const TERMINAL_STATUSES: ReadonlySet<AgentStatus> = new Set(['completed', 'stopped', 'crashed']);

export interface Progress {
  done: number;
  total: number | null;
  unit: string;
}

export interface EventData {
  'server.started': { version: string; url: string };
  'server.stopping': { reason: string };
  'agent.registered': { name: string; script: string | null; limitUsd: number | null };
  'agent.started': { pid: number; attempt: number };
  'agent.exited': { status: AgentStatus; exitCode: number | null; signal: string | null; durationMs: number };
  'agent.restarting': { attempt: number; delayMs: number };
  'agent.stopping': { requestedBy: string; signal: string };
  'agent.output': { stream: 'stdout' | 'stderr' };
  'agent.progress': Progress;
  'agent.checkpoint': { checkpointId: number; bytes: number };
  'agent.event': Record<string, unknown>;
}

export type EventType = keyof EventData;

export interface IronEvent<T extends EventType = EventType> {
  seq: number;
  ts: string;
  agentId: string | null;
  type: T;
  severity: Severity;
  message: string;
  data: EventData[T];
}

/** What a producer hands to `state.record`; the StateManager adds seq and ts. */
export type NewEvent<T extends EventType = EventType> = Omit<IronEvent<T>, 'seq' | 'ts'>;
