import { createHash } from 'node:crypto';
import { IronCageError } from '../core/errors.js';
import type { NewEvent } from '../core/events.js';
import { formatDuration } from '../core/duration.js';
import { callLabel, firstMatch, fold, llmToolWatched, needsArgs, RateWindows, type CallArgs, type PolicyCall, type PolicyRule, type PolicySet } from '../domain/policy/index.js';
import { MAX_JSON_DEPTH } from '../server/index.js';
import type { StateManager } from '../state/index.js';
import type { ApprovalDesk, ApprovalView } from './desk.js';
import { notLetThrough } from './messages.js';

// The policy gate: every tool-proxy call and every MCP tools/call is put to the rules here,
// after the call is read and before anything leaves or is charged. The first rule that matches
// decides: allow (go on), deny (refused, said), a rate (past it: 429 with Retry-After), or
// approve (the call waits at the desk for a person: nothing is sent or charged until then). A
// decision by a rule is an event naming the rule; so is the default's, when it refuses.
//
// The rules read the call itself (its names decoded, its arguments as read); everything else
// (events, approvals, their REST answers and alerts, refusals) shows one view of it with PII
// replaced: a path or an MCP tool's name is the agent's to choose, and may carry an SSN.

/** A tool call as the gate reads it: its names (the agent's name the gate looks up), and its arguments read only if a rule or an approval needs them. */
export type GateCall = Omit<PolicyCall, 'agentName'> &
  (
    | {
        /** The arguments as JSON (an MCP call's, parsed already; null: none). */
        args: () => unknown;
      }
    | {
        /** The arguments read from the bytes the upstream will get (`httpArgs`), or why they cannot be. */
        read: () => Promise<CallArgs>;
      }
  );

/** A call as it is shown, wherever it is: its names with PII replaced, and its label (`crm POST /contacts/[SSN_REDACTED]`). */
interface CallView {
  kind: 'http' | 'mcp' | 'llm';
  service: string;
  tool: string;
  method: string | null;
  label: string;
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
  /** Whether a prompt injection was seen in what the agent read (`match.after_injection`); none: never. */
  injectionSeen?: (agentId: string) => boolean;
  now?: () => number;
}

/**
 * A JSON value with every string's PII replaced (keys too: a body's structure is the agent's).
 * Past the depth a read body may have, what is left is its JSON text, redacted: never raw.
 */
function redacted(value: unknown, redact: (t: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_JSON_DEPTH) return redact(JSON.stringify(value));
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

/** A decision as `check` answers it: a refusal is a rejected promise. */
const rejected = (v: Promise<void> | Error | null): Promise<void> | null => (v instanceof Error ? Promise.reject(v) : v);

/** What the approver sees of arguments that could not be read. */
const unreadableArgs = (why: string): string => `the arguments could not be read: ${why}`;
/** Why a deny, approve or rate rule applied without its conditions checked. */
const failedClosed = (why: string): string => `its arguments could not be read (${why}), and a rule that tests them applies to what it cannot read`;
/** Why the default decided though an allow rule's names matched. */
const passedOver = (why: string): string => `${unreadableArgs(why)}, and an allow rule that tests them allows nothing it cannot read`;

export class PolicyGate {
  private readonly rates = new RateWindows();
  private readonly now: () => number;
  /** Whether a rule names `llm_tool`. */
  private readonly llmRules: boolean;

  constructor(private readonly d: PolicyGateDeps) {
    this.now = d.now ?? Date.now;
    this.llmRules = d.set.rules.some((r) => r.llmTool !== null);
  }

  /** Whether any call could be refused or held: no rule and a default of allow is nothing on the hot path. */
  get active(): boolean {
    return this.d.set.rules.length > 0 || this.d.set.default === 'deny';
  }

  /**
   * Null: the call goes on at once. Else a promise that resolves when it may go on (a rule
   * allowed it, or a person approved it) or rejects with the refusal (`PolicyRefusedError`,
   * `PolicyRateError`). `signal`: the caller giving up withdraws a waiting approval. A body is
   * read (`read`) before the rules are walked only when a rule whose names match tests arguments.
   */
  check(c: GateCall, signal?: AbortSignal): Promise<void> | null {
    if (!this.active) return null;
    const call = this.named(c);
    if (!('read' in c)) {
      const read: CallArgs = { readable: true, value: c.args() ?? null };
      return rejected(this.decide(call, read, () => read, signal));
    }
    let body: Promise<CallArgs> | undefined;
    const args = (): Promise<CallArgs> => (body ??= c.read());
    if (!needsArgs(this.d.set.rules, call)) return rejected(this.decide(call, null, args, signal));
    return args().then((read) => {
      const v = this.decide(call, read, args, signal);
      if (v instanceof Error) throw v;
      return v ?? undefined;
    });
  }

  /** Whether a rule reads the tool calls in models' answers (`match.llm_tool`): none, and the gateway reads none. */
  get watchesAnswers(): boolean {
    return this.llmRules;
  }

  /**
   * Whether a tool call named `tool` in an answer of `model` to this agent is one a rule could
   * decide: the gateway then holds it back until its arguments are whole and it is decided.
   */
  holdsAnswerCall(agentId: string, model: string, tool: string): boolean {
    return this.llmRules && llmToolWatched(this.d.set.rules, this.named({ kind: 'llm', agentId, service: model, tool, method: null }));
  }

  /**
   * A tool call in a model's answer, put to the rules that name `llm_tool` (the default is not
   * its: a call no such rule matches goes on). Null: it goes to the agent. A refusal (a deny
   * rule): the error that says why, at once. A promise (an approve rule): it waits for a person,
   * then resolves null (approved) or with the refusal (denied, expired, withdrawn: `signal`
   * aborting). The arguments are as read from the answer, or why they could not be.
   */
  answerCall(c: { agentId: string; model: string; tool: string; args: CallArgs }, signal?: AbortSignal): null | Error | Promise<Error | null> {
    if (!this.llmRules) return null;
    const v = this.decide(this.named({ kind: 'llm', agentId: c.agentId, service: c.model, tool: c.tool, method: null }), c.args, () => c.args, signal);
    if (!(v instanceof Promise)) return v;
    // Whatever kept it from a person's yes (a denial, the time running out, too many waiting) withholds it.
    return v.then(
      () => null,
      (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
    );
  }

  /**
   * The rules' decision on the call, `read` its arguments when they were read (they are, whenever
   * a rule that could ask for them matches its names): null (it goes on), the refusal, or a promise
   * of a person's decision.
   */
  private decide(call: PolicyCall, read: CallArgs | null, args: () => CallArgs | Promise<CallArgs>, signal?: AbortSignal): Promise<void> | PolicyRefusedError | PolicyRateError | null {
    const forRules = this.ruleView(() => {
      if (read === null) throw new Error('the policy asked for arguments it was told no rule reads');
      return read;
    });
    const m = firstMatch(this.d.set.rules, call, forRules, (r) => this.rates.take(`${r.index}\u0000${call.agentId}`, r.rate!.count, r.rate!.perMs, this.now()));
    const unreadable = m.unreadable === null ? null : this.d.redact(m.unreadable);
    const rule = m.rule;
    if (rule === null) {
      // The default is the tool proxy's and MCP's: a model's answer is read only by the rules that name llm_tool.
      if (this.d.set.default === 'allow' || call.kind === 'llm') return null;
      const shown = this.shown(call);
      this.decided(shown, call.agentId, 'default', 'deny', { unreadable });
      const why = unreadable === null ? '' : `; ${passedOver(unreadable)}`;
      return new PolicyRefusedError('policy_denied', `${shown.label} is refused: no policy rule allows it (policies.default: deny${why})`, 'default');
    }
    const closed = unreadable === null ? '' : `; ${failedClosed(unreadable)}`;
    if (m.overRateMs !== null) {
      const s = Math.max(1, Math.ceil(m.overRateMs / 1000));
      const shown = this.shown(call);
      this.decided(shown, call.agentId, rule.label, 'rate_limited', { retryAfterMs: m.overRateMs, unreadable });
      return new PolicyRateError(`${shown.label} is over the rate of rule ${rule.label} (${rule.rate!.text} per agent${closed}): try again in ${s} s`, s, rule.label);
    }
    if (rule.action === 'allow') {
      this.decided(this.shown(call), call.agentId, rule.label, 'allow', {});
      return null;
    }
    if (rule.action === 'deny') {
      const shown = this.shown(call);
      this.decided(shown, call.agentId, rule.label, 'deny', { unreadable });
      return new PolicyRefusedError('policy_denied', `${shown.label} is refused by policy rule ${rule.label}${rule.reason ? `: ${rule.reason}` : ''}${closed}`, rule.label);
    }
    return this.approval(call, rule, unreadable, args, signal);
  }

  /** An approve rule's call: an ask-ahead grant for exactly this call lets it go; else it waits for a person. */
  private async approval(call: PolicyCall, rule: PolicyRule, unreadable: string | null, args: () => CallArgs | Promise<CallArgs>, signal?: AbortSignal): Promise<void> {
    const read = await args();
    const shown = this.shown(call);
    // What a grant names is the call itself (its real names and arguments), never its view; arguments
    // that could not be read are no call anyone asked ahead for.
    const fingerprint = callFingerprint(call, read.readable ? read.value : null);
    const granted = read.readable ? this.d.desk.takeGrant(fingerprint) : null;
    if (granted !== null) {
      this.decided(shown, call.agentId, rule.label, 'allow', { approvalId: granted });
      return;
    }
    const { row, outcome } = this.d.desk.request(
      {
        agentId: call.agentId,
        kind: shown.kind,
        service: shown.service,
        tool: shown.tool,
        method: shown.method,
        args: this.argsText(read),
        fingerprint,
        rule: rule.label,
        approvers: rule.approvers,
        timeoutMs: rule.timeoutMs,
        ahead: false,
        note: rule.reason,
      },
      signal,
    );
    this.decided(shown, call.agentId, rule.label, 'approve', { approvalId: row.id, unreadable });
    const o = await outcome;
    if (o.status === 'approved') return;
    const { label } = shown;
    const unsent = notLetThrough(call.kind);
    if (o.status === 'denied') throw new PolicyRefusedError('approval_denied', `${label} was denied by ${o.by} (rule ${rule.label})${o.reason ? `: ${o.reason}` : ''}; it was ${unsent}`, rule.label);
    throw new PolicyRefusedError(
      'approval_expired',
      `${label} waited for approval (rule ${rule.label}) and was ${unsent}: ${o.reason ?? (o.status === 'withdrawn' ? 'withdrawn' : `nobody decided within ${formatDuration(rule.timeoutMs)}`)}`,
      rule.label,
    );
  }

  /**
   * The SDK asking ahead (`tools.request_approval`): what the call would get. `allow` when no
   * rule holds it; a pending approval (an ask-ahead grant once approved, good for that one call
   * within GRANT_TTL_MS) when a rule says approve; a deny rule's refusal is thrown as the call's would be.
   */
  ask(c: Omit<PolicyCall, 'agentName'> & { args: () => unknown }, note: string | null): { decision: 'allow'; rule: string | null } | { decision: 'approve'; approval: ApprovalView } {
    const call = this.named(c);
    const value = c.args() ?? null;
    const read: CallArgs = { readable: true, value };
    const { rule } = firstMatch(
      this.d.set.rules,
      call,
      this.ruleView(() => read),
    );
    const shown = this.shown(call);
    if (rule === null) {
      if (this.d.set.default === 'allow') return { decision: 'allow', rule: null };
      throw new PolicyRefusedError('policy_denied', `${shown.label} would be refused: no policy rule allows it (policies.default: deny)`, 'default');
    }
    if (rule.action === 'deny') throw new PolicyRefusedError('policy_denied', `${shown.label} would be refused by policy rule ${rule.label}${rule.reason ? `: ${rule.reason}` : ''}`, rule.label);
    if (rule.action === 'allow') return { decision: 'allow', rule: rule.label };
    const { row } = this.d.desk.request({
      agentId: call.agentId,
      kind: shown.kind,
      service: shown.service,
      tool: shown.tool,
      method: shown.method,
      args: this.argsText(read),
      fingerprint: callFingerprint(call, value),
      rule: rule.label,
      approvers: rule.approvers,
      timeoutMs: rule.timeoutMs,
      ahead: true,
      note: note === null ? rule.reason : this.d.redact(note),
    });
    return { decision: 'approve', approval: this.d.desk.view(row) };
  }

  private named<C extends Omit<PolicyCall, 'agentName'>>(c: C): C & PolicyCall {
    const call: C & PolicyCall = { ...c, agentName: this.d.state.agentBrief(c.agentId)?.name ?? c.agentId };
    if (this.d.set.rules.some((r) => r.afterInjection)) call.injectionSeen = this.d.injectionSeen?.(c.agentId) ?? false;
    return call;
  }

  /** The arguments as the rules' conditions read them: redacted (addresses at the domains the rules name kept), once. */
  private ruleView(read: () => CallArgs): () => CallArgs {
    let view: CallArgs | undefined;
    return () => {
      if (view === undefined) {
        const a = read();
        view = a.readable ? { readable: true, value: redacted(a.value, this.d.redact) } : a;
      }
      return view;
    };
  }

  /** The one view of a call everything but the rules shows: the agent-chosen names with PII replaced. */
  private shown(call: Pick<PolicyCall, 'kind' | 'service' | 'tool' | 'method'>): CallView {
    const v = { kind: call.kind, service: this.d.redact(call.service), tool: this.d.redact(call.tool), method: call.method };
    return { ...v, label: callLabel(v) };
  }

  /** The arguments as the approver sees them: redacted JSON, or that (and why) they could not be read. */
  private argsText(read: CallArgs): string {
    return read.readable ? JSON.stringify(redacted(read.value, this.d.redact)) : unreadableArgs(this.d.redact(read.why));
  }

  /** A rule's (or the refusing default's) decision: an event naming the rule (`/metrics` counts it from there), the call as shown. */
  private decided(
    call: CallView,
    agentId: string,
    rule: string,
    action: 'allow' | 'deny' | 'approve' | 'rate_limited',
    o: { approvalId?: string; retryAfterMs?: number; unreadable?: string | null },
  ): void {
    const approvalId = o.approvalId ?? null;
    const retryAfterMs = o.retryAfterMs ?? null;
    const by = rule === 'default' ? 'the policy default (deny)' : `policy rule ${rule}`;
    const said =
      action === 'allow'
        ? `${call.label} allowed by policy rule ${rule}${approvalId ? ` (approved ahead: ${approvalId})` : ''}`
        : action === 'deny'
          ? `${call.label} refused by ${by}`
          : action === 'approve'
            ? `${call.label} held for approval by policy rule ${rule} (${approvalId})`
            : `${call.label} over the rate of policy rule ${rule}: refused for ${plural(Math.ceil((retryAfterMs ?? 0) / 1000), 'second')}`;
    const unreadable = o.unreadable ?? null;
    const e: NewEvent<'policy.decision'> = {
      agentId,
      type: 'policy.decision',
      severity: action === 'allow' ? 'info' : 'warn',
      message: unreadable === null ? said : `${said}: ${rule === 'default' ? passedOver(unreadable) : failedClosed(unreadable)}`,
      data: { kind: call.kind, service: call.service, tool: call.tool, method: call.method, rule, action, approvalId, retryAfterMs, unreadable },
    };
    this.d.state.record(e);
  }
}
