import type { AlertMessage } from '../alerts/index.js';
import { formatDuration } from '../core/duration.js';
import { approversText, callLabel, type Approvers } from '../domain/policy/index.js';
import type { ApprovalRow } from '../state/index.js';

// What approvals and policy decisions say: event messages, errors' wording, the alert.

export type ApprovalAlert = AlertMessage & { kind: 'approval' };

/** What became of a call the policy kept back: a tool call was not sent; one in a model's answer never reached the agent. */
export const notLetThrough = (kind: string): string => (kind === 'llm' ? 'withheld from the agent' : 'not sent');

export function requestedMessage(r: Pick<ApprovalRow, 'kind' | 'service' | 'tool' | 'method' | 'rule' | 'ahead' | 'expiresAt' | 'requestedAt'>, approvers: Approvers): string {
  const wait = formatDuration(Date.parse(r.expiresAt) - Date.parse(r.requestedAt));
  return `${r.ahead ? 'Asks ahead for approval of' : 'Waiting for approval:'} ${callLabel(r)} (rule ${r.rule}; ${approversText(approvers)} may decide within ${wait})`;
}

export function decidedMessage(r: ApprovalRow, waitedMs: number): string {
  const call = callLabel(r);
  const why = r.reason ? `: ${r.reason}` : '';
  switch (r.status) {
    case 'approved':
      return `Approved by ${r.decidedBy}: ${call} after ${formatDuration(waitedMs)}${why}`;
    case 'denied':
      return `Denied by ${r.decidedBy}: ${call}${why}`;
    case 'withdrawn':
      return `Approval withdrawn: ${call} (${r.reason ?? 'the caller stopped waiting'}); ${r.kind === 'llm' ? 'it was withheld from the agent' : 'nothing was sent'}`;
    default:
      return `Approval expired: ${call} (${r.reason ?? 'nobody decided in time'}); ${r.kind === 'llm' ? 'it was withheld from the agent' : 'nothing was sent'}`;
  }
}

/** Slack's mrkdwn control characters, escaped (a path or an argument is the agent's text). */
const esc = (t: string): string => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The alert for a request: who asks for what, under which rule, and the link that opens the queue. */
export function approvalAlert(r: ApprovalRow, agentName: string, approvers: Approvers, link: string): ApprovalAlert {
  const call = callLabel(r);
  const subject = `[Iron Cage] Approval needed: ${call} by ${agentName}`.replace(/[\r\n]+/g, ' ').slice(0, 200);
  const rows: Array<[string, string]> = [
    ['Call', call],
    ['Rule', r.rule],
    ['Who may decide', approversText(approvers)],
    ['Decide by', r.expiresAt],
    ['Arguments', r.args.length > 600 ? `${r.args.slice(0, 600)}…` : r.args],
    ['Open', link],
  ];
  const text = [`Agent ${agentName} (${r.agentId}) ${r.ahead ? 'asks ahead for approval of' : 'waits for approval of'} ${call}.`, '', ...rows.map(([k, v]) => `${k}: ${v}`)].join('\n');
  return {
    id: `approval:${r.id}`,
    kind: 'approval',
    agentId: r.agentId,
    slack: {
      text: `:raised_hand: Iron Cage: approval needed for ${esc(call)} by *${esc(agentName)}*: ${link}`,
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: `:raised_hand: *Approval needed* for *${esc(agentName)}*\n${esc(call)}\n<${link}|Open the approval queue>` } },
        { type: 'section', fields: rows.slice(0, 5).map(([k, v]) => ({ type: 'mrkdwn' as const, text: `*${k}*\n${esc(v)}` })) },
      ],
    },
    email: { subject, text },
  };
}
