import type { AlertMessage } from '../alerts/index.js';
import type { EventData, WatchPolicy } from '../core/events.js';
import { formatDuration } from '../core/duration.js';
import { formatUsd, usdToMicros } from '../core/money.js';

// What the watch says: event messages, and the alerts (Slack text and e-mail) for each detection.

export type WatchAlert = AlertMessage & { kind: 'watch' };

const usd = (n: number): string => formatUsd(usdToMicros(n));
const then = (p: WatchPolicy): string => (p === 'pause' ? '; agent paused until an admin resumes it' : p === 'stop' ? '; agent stopped' : '');
const KIND: Record<EventData['watch.loop']['kind'], string> = { tool: 'tool call', function: 'function call', prompt: 'prompt' };

/** `Loop: the same tool call crm GET /leads/42 3× in 5m00s, $0.0123 spent since the first ($0.0082 on the repeats)`. */
export function loopMessage(d: EventData['watch.loop']): string {
  return `Loop: the same ${KIND[d.kind]} ${d.label} ${d.count}× within ${formatDuration(d.windowMs)}, ${usd(d.spentUsd)} spent since the first (${usd(d.wastedUsd)} on the repeats)${then(d.policy)}`;
}

export function stallMessage(d: EventData['watch.stall']): string {
  return `Stalled: no progress report, call or event for ${formatDuration(d.idleMs)}${then(d.policy)}`;
}

export function spikeMessage(d: EventData['watch.spike']): string {
  return `Spend spike: ${usd(d.rateUsdPerMin)}/min over the last ${formatDuration(d.windowMs)}, ${d.factor}× its rate of ${usd(d.baselineUsdPerMin)}/min before${then(d.policy)}`;
}

/** Slack's mrkdwn control characters, escaped (a label or a name is the agent's text). */
const esc = (t: string): string => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function alert(agentId: string, what: string, agentName: string, message: string, rows: Array<[string, string]>): WatchAlert {
  // A header line must not carry CR/LF from a user-chosen agent name.
  const subject = `[Iron Cage] ${what} for ${agentName}`.replace(/[\r\n]+/g, ' ');
  const text = [`${what} for agent ${agentName} (${agentId})`, '', message, '', ...rows.map(([k, v]) => `${k}: ${v}`)].join('\n');
  return {
    id: `watch:${agentId}:${Date.now()}`,
    kind: 'watch',
    agentId,
    slack: {
      text: `:rotating_light: Iron Cage: ${what} for *${esc(agentName)}* (${agentId}): ${esc(message)}`,
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: `:rotating_light: *${what}* for *${esc(agentName)}*\n${esc(message)}` } },
        { type: 'section', fields: rows.map(([k, v]) => ({ type: 'mrkdwn' as const, text: `*${k}*\n${esc(v)}` })) },
      ],
    },
    email: { subject, text },
  };
}

export function loopAlert(agentId: string, agentName: string, d: EventData['watch.loop'], message: string): WatchAlert {
  return alert(agentId, 'Loop detected', agentName, message, [
    ['Repeated', `${KIND[d.kind]} ${d.label}`],
    ['Count', `${d.count}× within ${formatDuration(d.windowMs)}`],
    ['Spent since the first', usd(d.spentUsd)],
    ['Wasted on repeats', usd(d.wastedUsd)],
    ['Policy', d.policy],
  ]);
}

export function stallAlert(agentId: string, agentName: string, d: EventData['watch.stall'], message: string): WatchAlert {
  return alert(agentId, 'Agent stalled', agentName, message, [
    ['Idle', formatDuration(d.idleMs)],
    ['Last activity', d.lastActivity ?? 'none'],
    ['Last progress', d.lastProgress ?? 'none'],
    ['Policy', d.policy],
  ]);
}

export function spikeAlert(agentId: string, agentName: string, d: EventData['watch.spike'], message: string): WatchAlert {
  return alert(agentId, 'Spend spike', agentName, message, [
    ['Rate', `${usd(d.rateUsdPerMin)}/min`],
    ['Before', `${usd(d.baselineUsdPerMin)}/min`],
    ['Factor', `${d.factor}×`],
    ['Spent in the window', usd(d.spentUsd)],
    ['Policy', d.policy],
  ]);
}
