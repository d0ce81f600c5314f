import { createHash } from 'node:crypto';
import { IronCageError } from '../core/errors.js';
import type { NewEvent } from '../core/events.js';
import { formatDuration } from '../core/duration.js';
import { callLabel, firstMatch, fold, RateWindows, type PolicyCall, type PolicyRule, type PolicySet } from '../domain/policy/index.js';
import type { StateManager } from '../state/index.js';
import type { ApprovalDesk, ApprovalView } from './desk.js';

// The policy gate: every tool-proxy call and every MCP tools/call is put to the rules here,
// after the call is read and before anything leaves or is charged. The first rule that matches
// decides: allow (go on), deny (refused, said), a rate (past it: 429 with Retry-After), or
// approve (the call waits at the desk for a person: nothing is sent or charged until then). A
// decision by a rule is an event naming the rule; so is the default's, when it refuses.

/** A tool call as the gate reads it: its names (the agent's name the gate looks up), and its arguments read only if a rule asks. */
export interface GateCall extends Omit<PolicyCall, 'agentName'> {
  /** The arguments the agent sent (a JSON object, or null): read only when a rule's conditions or an approval need them. */
  args: () => unknown;
}

/** Refused by the policy: a rule's deny, a person's denial, or nobody deciding in time. Never worth retrying as it is. */
export class PolicyRefusedError extends IronCageError {
  constructor(
    code: 'policy_denied' | 'approval_denied' | 'approval_expired',
    message: string,
    readonly rule: string,
  ) {
    super(code, 403, message, { kind: 'permission', retry: false });
  }
}

/** Over a rule's rate: 429 with Retry-After. */
export class PolicyRateError extends IronCageError {
  constructor(
    message: string,
    retryAfterS: number,
    readonly rule: string,
  ) {
    super('rate_limited', 429, message, { kind: 'rate_limit', retryAfterS });
  }
}

export interface PolicyGateDeps {
  set: PolicySet;
  desk: ApprovalDesk;
  state: StateManager;
  /** A text's PII replaced: what the rules' argument conditions read and an approver sees. */
  redact: (text: string) => string;
  now?: () => number;
}

/** A JSON value with every string's PII replaced (keys too: a body's structure is the agent's). */
function redacted(value: unknown, redact: (t: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (depth > 32 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redacted(v, redact, depth + 1));
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) o[redact(k)] = redacted(v, redact, depth + 1);
  return o;
}

/** JSON with keys in order: the same arguments give the same text whatever order they were written in. */
function canonical(v: unknown, depth = 0): string {
  if (depth > 32 || v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map((x) => canonical(x, depth + 1)).join(',')}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k], depth + 1)}`).join(',')}}`;
}

/** What identifies a call for an ask-ahead grant: agent, kind, service, tool, method and the arguments as sent. */
export function callFingerprint(c: Omit<PolicyCall, 'agentName'>, args: unknown): string {
  return createHash('sha256')
    .update([c.agentId, c.kind, c.service, fold(c.tool), c.method ?? '', canonical(args)].join('\u0000'))
    .digest('hex');
}

const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? '' : 's'}`;

export class PolicyGate {
  private readonly rates = new RateWindows();
  private readonly now: () => number;

  constructor(private readonly d: PolicyGateDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Whether any call could be refused or held: no rule and a default of allow is nothing on the hot path. */
  get active(): boolean {
    return this.d.set.rules.length > 0 || this.d.set.default === 'deny';
  }

  /**
   * Null: the call goes on at once. Else a promise that resolves when it may go on (a rule
   * allowed it, or a person approved it) or rejects with the refusal (`PolicyRefusedError`,
   * `PolicyRateError`). `signal`: the caller giving up withdraws a waiting approval.
   */
  check(c: GateCall, signal?: AbortSignal): Promise<void> | null {
    if (!this.active) return null;
    const call = this.named(c);
    let view: { v: unknown } | null = null;
    const argsView = (): unknown => (view ??= { v: redacted(call.args() ?? null, this.d.redact) }).v;
    const rule = firstMatch(this.d.set.rules, call, argsView);
    if (rule === null) {
      if (this.d.set.default === 'allow') return null;
      this.decided(call, 'default', 'deny', null, null);
      return Promise.reject(new PolicyRefusedError('policy_denied', `${callLabel(call)} is refused: no policy rule allows it (policies.default: deny)`, 'default'));
    }
    if (rule.rate !== null) {
      const waitMs = this.rates.take(`${rule.index}\u0000${call.agentId}`, rule.rate.count, rule.rate.perMs, this.now());
      if (waitMs !== null) {
        const s = Math.max(1, Math.ceil(waitMs / 1000));
        this.decided(call, rule.label, 'rate_limited', null, waitMs);
        return Promise.reject(new PolicyRateError(`${callLabel(call)} is over the rate of rule ${rule.label} (${rule.rate.text} per agent): try again in ${s} s`, s, rule.label));
      }
    }
    if (rule.action === 'allow') {
      this.decided(call, rule.label, 'allow', null, null);
      return null;
    }
    if (rule.action === 'deny') {
      this.decided(call, rule.label, 'deny', null, null);
      return Promise.reject(new PolicyRefusedError('policy_denied', `${callLabel(call)} is refused by policy rule ${rule.label}${rule.reason ? `: ${rule.reason}` : ''}`, rule.label));
    }
    return this.approval(call, rule, argsView, signal);
  }

  /** An approve rule's call: an ask-ahead grant for exactly this call lets it go; else it waits for a person. */
  private async approval(call: GateCall & PolicyCall, rule: PolicyRule, argsView: () => unknown, signal?: AbortSignal): Promise<void> {
    const fingerprint = callFingerprint(call, call.args() ?? null);
    const granted = this.d.desk.takeGrant(fingerprint);
    if (granted !== null) {
      this.decided(call, rule.label, 'allow', granted, null);
      return;
    }
    const { row, outcome } = this.d.desk.request(
      {
        agentId: call.agentId,
        kind: call.kind,
        service: call.service,
        tool: call.tool,
        method: call.method,
        args: JSON.stringify(argsView()),
        fingerprint,
        rule: rule.label,
        approvers: rule.approvers,
        timeoutMs: rule.timeoutMs,
        ahead: false,
        note: rule.reason,
      },
      signal,
    );
    this.decided(call, rule.label, 'approve', row.id, null);
    const o = await outcome;
    if (o.status === 'approved') return;
    const label = callLabel(call);
    if (o.status === 'denied') throw new PolicyRefusedError('approval_denied', `${label} was denied by ${o.by} (rule ${rule.label})${o.reason ? `: ${o.reason}` : ''}; it was not sent`, rule.label);
    throw new PolicyRefusedError(
      'approval_expired',
      `${label} waited for approval (rule ${rule.label}) and was not sent: ${o.reason ?? (o.status === 'withdrawn' ? 'withdrawn' : `nobody decided within ${formatDuration(rule.timeoutMs)}`)}`,
      rule.label,
    );
  }

  /**
   * The SDK asking ahead (`tools.request_approval`): what the call would get. `allow` when no
   * rule holds it; a pending approval (an ask-ahead grant once approved, good for that one call
   * within GRANT_TTL_MS) when a rule says approve; a deny rule's refusal is thrown as the call's would be.
   */
  ask(c: GateCall, note: string | null): { decision: 'allow'; rule: string | null } | { decision: 'approve'; approval: ApprovalView } {
    const call = this.named(c);
    const rule = firstMatch(this.d.set.rules, call, () => redacted(call.args() ?? null, this.d.redact));
    if (rule === null) {
      if (this.d.set.default === 'allow') return { decision: 'allow', rule: null };
      throw new PolicyRefusedError('policy_denied', `${callLabel(call)} would be refused: no policy rule allows it (policies.default: deny)`, 'default');
    }
    if (rule.action === 'deny') throw new PolicyRefusedError('policy_denied', `${callLabel(call)} would be refused by policy rule ${rule.label}${rule.reason ? `: ${rule.reason}` : ''}`, rule.label);
    if (rule.action === 'allow') return { decision: 'allow', rule: rule.label };
    const { row } = this.d.desk.request({
      agentId: call.agentId,
      kind: call.kind,
      service: call.service,
      tool: call.tool,
      method: call.method,
      args: JSON.stringify(redacted(call.args() ?? null, this.d.redact)),
      fingerprint: callFingerprint(call, call.args() ?? null),
      rule: rule.label,
      approvers: rule.approvers,
      timeoutMs: rule.timeoutMs,
      ahead: true,
      note: note === null ? rule.reason : this.d.redact(note),
    });
    return { decision: 'approve', approval: this.d.desk.view(row) };
  }

  private named(c: GateCall): GateCall & PolicyCall {
    return { ...c, agentName: this.d.state.agentBrief(c.agentId)?.name ?? c.agentId };
  }

  /** A rule's (or the refusing default's) decision: an event naming the rule (`/metrics` counts it from there). */
  private decided(call: GateCall, rule: string, action: 'allow' | 'deny' | 'approve' | 'rate_limited', approvalId: string | null, retryAfterMs: number | null): void {
    const label = callLabel(call);
    const said =
      action === 'allow'
        ? `${label} allowed by policy rule ${rule}${approvalId ? ` (approved ahead: ${approvalId})` : ''}`
        : action === 'deny'
          ? `${label} refused by ${rule === 'default' ? 'the policy default (deny)' : `policy rule ${rule}`}`
          : action === 'approve'
            ? `${label} held for approval by policy rule ${rule} (${approvalId})`
            : `${label} over the rate of policy rule ${rule}: refused for ${plural(Math.ceil((retryAfterMs ?? 0) / 1000), 'second')}`;
    const e: NewEvent<'policy.decision'> = {
      agentId: call.agentId,
      type: 'policy.decision',
      severity: action === 'allow' ? 'info' : 'warn',
      message: said,
      data: { kind: call.kind, service: call.service, tool: call.tool, method: call.method, rule, action, approvalId, retryAfterMs },
    };
    this.d.state.record(e);
  }
}
