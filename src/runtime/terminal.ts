import type { IronEvent, Severity } from '../core/events.js';
import type { Logger } from '../core/logger.js';

const LEVEL: Record<Severity, 'debug' | 'info' | 'warn' | 'error'> = { debug: 'debug', info: 'info', warn: 'warn', error: 'error', critical: 'error' };
// Bookkeeping events that would drown the agent's own output at INFO.
const QUIET = new Set(['agent.registered', 'agent.progress', 'agent.checkpoint', 'server.started']);

/** The terminal is one more subscriber of the event bus: what the dashboard sees, the log says. */
export function terminalSink(logger: Logger): (ev: IronEvent) => void {
  return (ev) => {
    const level = QUIET.has(ev.type) ? 'debug' : LEVEL[ev.severity];
    if (!logger.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = { seq: ev.seq, type: ev.type };
    if (ev.agentId) fields.agentId = ev.agentId;
    if (ev.type === 'agent.output') fields.stream = (ev.data as { stream: string }).stream;
    logger[level](fields, ev.message);
  };
}
