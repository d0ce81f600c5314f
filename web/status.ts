import type { AgentStatus } from './types.js';

/** A colour class, an icon and a word per status: colour is never the only signal. */
export const STATUS: Record<AgentStatus, { icon: string; label: string; tone: 'ok' | 'warn' | 'bad' | 'idle' }> = {
  starting: { icon: '🟡', label: 'Starting', tone: 'warn' },
  running: { icon: '🟢', label: 'Running', tone: 'ok' },
  completed: { icon: '✅', label: 'Completed', tone: 'ok' },
  stopped: { icon: '⏹', label: 'Stopped', tone: 'idle' },
  crashed: { icon: '🔴', label: 'Crashed', tone: 'bad' },
  restarting: { icon: '🔄', label: 'Restarting', tone: 'warn' },
  budget_exhausted: { icon: '⛔', label: 'Budget exhausted', tone: 'bad' },
};

/** Still there to act on (an exhausted budget can be raised and the agent goes on). */
export const LIVE_STATUSES: ReadonlySet<AgentStatus> = new Set(['starting', 'running', 'restarting', 'budget_exhausted']);
