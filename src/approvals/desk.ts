import { randomBytes } from 'node:crypto';
import { formatDuration } from '../core/duration.js';
import { ConflictError, ForbiddenError, IronCageError, NotFoundError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/roles.js';
import { approversText, mayApprove, type Approvers } from '../domain/policy/index.js';
import type { ApprovalRequest, ApprovalShown, ApprovalStatus } from '../core/events.js';
import type { ApprovalRow, ApprovalsStore, StateManager } from '../state/index.js';
import { approvalAlert, decidedMessage, notLetThrough, requestedMessage, type ApprovalAlert } from './messages.js';

// The approval desk: the calls a policy rule holds for a person, and the one decision each gets.
// A request is a row and an event; its caller waits on a promise the decision settles (or its
// time running out, or its caller giving up). The row's conditional update is the one decision:
// two approvers racing, or an approver racing the clock, get one outcome and the other is told
// (409). Whoever decides is checked against the rule's approvers: an agent's own token never.

/** An ask-ahead grant (an approval the SDK asked for before the call) may be used this long after it was approved. */
export const GRANT_TTL_MS = 15 * 60_000;
/** Approvals one agent may have pending at once (held calls and asks ahead): each holds a socket or a place in a person's queue. */
export const MAX_PENDING_PER_AGENT = 32;
/** What an approval shows of the arguments. */
const ARGS_SHOWN = 4000;

/** An approval as REST and the dashboard show it: the runtime knows how long each waited, and when a grant was used. */
export interface ApprovalView extends ApprovalShown {
  /** How long it waited (so far, while pending). */
  waitedMs: number;
  /** An approved ask-ahead grant its call has taken. */
  usedAt: string | null;
}

/** A call to hold: its request as its event will say it (the desk gives it its id and expiry), whose agent it is, and how long it may wait. */
export interface NewApproval extends Omit<ApprovalRequest, 'id' | 'expiresAt'> {
  agentId: string;
  fingerprint: string;
  timeoutMs: number;
}

/** How a waiting call ends. */
export type Outcome = { status: Exclude<ApprovalStatus, 'pending'>; by: string | null; reason: string | null; row: ApprovalRow };

/** Who decides, as the desk needs them: a principal of this runtime, or a panel user relayed by the runtime's reporter. */
export interface Decider {
  role: string;
  name: string;
  /** A named user's name (a login), or null for a token. */
  user: string | null;
  /** How the decision names them: `admin alice`, `panel admin bob`. */
  by: string;
}

/** Whoever can decide no approval at all: an agent's token, a runtime's or a scraper's, and a viewer's token that is no named user (a rule may name a user, never a token). */
export function assertMayDecideAny(who: Decider): void {
  if (who.role === 'agent') throw new ForbiddenError("an agent's token can never decide an approval");
  if (who.role !== 'admin' && who.role !== 'viewer') throw new ForbiddenError(`a ${who.role} token cannot decide approvals`);
  if (who.role === 'viewer' && who.user === null) throw new ForbiddenError('viewer tokens are read-only: a rule may name a user (approvers: [user:<name>]), who decides with their own login');
}

export const deciderOf = (p: Principal): Decider => ({ role: p.role, name: p.name, user: p.userId !== undefined ? p.name : null, by: `${p.role} ${p.name}` });

const parseApprovers = (text: string): Approvers => {
  try {
    const a = JSON.parse(text) as Approvers;
    return { roles: Array.isArray(a.roles) ? a.roles : [], users: Array.isArray(a.users) ? a.users : [] };
  } catch {
    return { roles: ['admin'], users: [] };
  }
};

export interface DeskDeps {
  state: StateManager;
  store: ApprovalsStore;
  logger: Logger;
  alerts: { send(message: ApprovalAlert): void };
  /** The dashboard's address, for the alert's link. */
  url: () => string;
  now?: () => number;
}

export class ApprovalDesk {
  private readonly waiting = new Map<string, { settle: (o: Outcome) => void; timer: NodeJS.Timeout; agentId: string }>();
  /** Pending approvals per agent: bounded, or an agent could hold sockets and flood the approvers' queue and alerts. */
  private readonly perAgent = new Map<string, number>();
  /** Long polls (`GET /api/approvals/:id?wait=`) waiting for a decision. */
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly now: () => number;

  constructor(private readonly d: DeskDeps) {
    this.now = d.now ?? Date.now;
  }

  /** At start: what a previous run left waiting is closed and said (its caller is gone with that run; nothing was sent). */
  closeLeftovers(): number {
    let n = 0;
    for (const r of this.d.store.pending()) if (this.finish(r.id, { status: 'expired', by: null, reason: 'iron-cage stopped while it waited' })) n++;
    return n;
  }

  /**
   * A call held for a person: written and announced (event, alert), then waited on. The promise
   * settles with the one outcome; `signal` aborting (the caller gave up) withdraws it.
   */
  request(a: NewApproval, signal?: AbortSignal): { row: ApprovalRow; outcome: Promise<Outcome> } {
    const open = this.perAgent.get(a.agentId) ?? 0;
    if (open >= MAX_PENDING_PER_AGENT)
      throw new IronCageError(
        'too_many_approvals',
        429,
        `agent ${a.agentId} already has ${open} calls waiting for approval (at most ${MAX_PENDING_PER_AGENT}): this one was ${notLetThrough(a.kind)}; try again once some are decided`,
        { kind: 'rate_limit', retryAfterS: 30 },
      );
    this.perAgent.set(a.agentId, open + 1);
    const at = this.now();
    const id = `apr_${randomBytes(9).toString('base64url')}`;
    const row = this.d.store.insert(
      {
        id,
        agentId: a.agentId,
        kind: a.kind,
        service: a.service,
        tool: a.tool,
        method: a.method,
        args: a.args.length > ARGS_SHOWN ? `${a.args.slice(0, ARGS_SHOWN)}…` : a.args,
        fingerprint: a.fingerprint,
        rule: a.rule,
        approvers: JSON.stringify(a.approvers),
        ahead: a.ahead,
        note: a.note,
        requestedAt: new Date(at).toISOString(),
        expiresAt: new Date(at + a.timeoutMs).toISOString(),
      },
      {
        agentId: a.agentId,
        type: 'approval.requested',
        severity: 'warn',
        message: requestedMessage({ ...a, requestedAt: new Date(at).toISOString(), expiresAt: new Date(at + a.timeoutMs).toISOString() }, a.approvers),
        data: {
          id,
          kind: a.kind,
          service: a.service,
          tool: a.tool,
          method: a.method,
          args: a.args.length > ARGS_SHOWN ? `${a.args.slice(0, ARGS_SHOWN)}…` : a.args,
          rule: a.rule,
          approvers: a.approvers,
          expiresAt: new Date(at + a.timeoutMs).toISOString(),
          ahead: a.ahead,
          note: a.note,
        },
      },
    );
    try {
      const name = this.d.state.agentBrief(a.agentId)?.shownName ?? a.agentId;
      this.d.alerts.send(approvalAlert(row, name, a.approvers, `${this.d.url()}/#approvals`));
    } catch (err) {
      this.d.logger.error({ err }, 'the approval alert could not be sent');
    }
    const outcome = new Promise<Outcome>((settle) => {
      const timer = setTimeout(() => this.finish(id, { status: 'expired', by: null, reason: `nobody decided within ${formatDuration(a.timeoutMs)} (the rule's timeout)` }), a.timeoutMs);
      timer.unref();
      this.waiting.set(id, { settle, timer, agentId: a.agentId });
    });
    if (signal) {
      const gone = () => this.finish(id, { status: 'withdrawn', by: null, reason: 'the caller stopped waiting' });
      if (signal.aborted) gone();
      else signal.addEventListener('abort', gone, { once: true });
      void outcome.then(() => signal.removeEventListener('abort', gone));
    }
    return { row, outcome };
  }

  /**
   * A person's decision. Refused (403) for whoever the rule does not name, (404) for an unknown
   * id, (409) once it is decided: nothing is written then.
   */
  decide(id: string, decision: 'approve' | 'deny', who: Decider, reason: string | null): ApprovalView {
    const row = this.d.store.get(id);
    if (!row) throw new NotFoundError(`no approval ${id}`);
    this.assertMayDecide(row, who);
    if (row.status !== 'pending') throw this.decidedAlready(row);
    const done = this.finish(id, { status: decision === 'approve' ? 'approved' : 'denied', by: who.by, reason });
    if (!done) throw this.decidedAlready(this.d.store.get(id)!);
    return this.view(done);
  }

  /** Whether `who` may decide this approval; throws ForbiddenError saying why not. */
  assertMayDecide(row: ApprovalRow, who: Decider): void {
    assertMayDecideAny(who);
    const approvers = parseApprovers(row.approvers);
    if (!mayApprove(approvers, who)) {
      const hint = who.role === 'viewer' && who.user === null ? 'viewer tokens are read-only; ' : '';
      throw new ForbiddenError(`${hint}approval ${row.id} may be decided by ${approversText(approvers)} (rule ${row.rule}); ${who.by} is not among them`);
    }
  }

  private decidedAlready(row: ApprovalRow): ConflictError {
    return new ConflictError(`approval ${row.id} was already ${row.status}${row.decidedBy ? ` by ${row.decidedBy}` : ''}${row.decidedAt ? ` at ${row.decidedAt}` : ''}: nothing changed`, 'stale');
  }

  /** The one decision, written with its event; its caller (if it still waits here) told. Null when it was already decided. */
  private finish(id: string, o: { status: Exclude<ApprovalStatus, 'pending'>; by: string | null; reason: string | null }): ApprovalRow | null {
    const at = this.now();
    const row = this.d.store.decide(id, { ...o, at: new Date(at).toISOString() }, (r) => {
      const waitedMs = Math.max(0, at - Date.parse(r.requestedAt));
      return {
        agentId: r.agentId,
        type: 'approval.decided',
        severity: r.status === 'approved' ? 'info' : 'warn',
        message: decidedMessage(r, waitedMs),
        data: { id: r.id, status: r.status as Outcome['status'], by: r.decidedBy, reason: r.reason, waitedMs, service: r.service, tool: r.tool, rule: r.rule },
      };
    });
    const w = this.waiting.get(id);
    if (w) {
      this.waiting.delete(id);
      clearTimeout(w.timer);
      const n = (this.perAgent.get(w.agentId) ?? 1) - 1;
      if (n > 0) this.perAgent.set(w.agentId, n);
      else this.perAgent.delete(w.agentId);
    }
    if (row === null) return null;
    w?.settle({ status: row.status as Outcome['status'], by: row.decidedBy, reason: row.reason, row });
    const watchers = this.watchers.get(id);
    if (watchers) {
      this.watchers.delete(id);
      for (const f of watchers) f();
    }
    return row;
  }

  /** An approved ask-ahead grant for this call, taken (once): its id, or null. */
  takeGrant(fingerprint: string): string | null {
    const now = this.now();
    const g = this.d.store.grant(fingerprint, new Date(now - GRANT_TTL_MS).toISOString());
    if (!g) return null;
    return this.d.store.use(g.id, new Date(now).toISOString()) ? g.id : null;
  }

  /** An agent's approvals by outcome and the time its calls waited (asking ahead aside). */
  totals(agentId: string): ReturnType<ApprovalsStore['totals']> {
    return this.d.store.totals(agentId);
  }

  get(id: string): ApprovalView | null {
    const r = this.d.store.get(id);
    return r ? this.view(r) : null;
  }

  /** Resolves when the approval is decided or after `ms`, whichever is first. */
  async settled(id: string, ms: number): Promise<void> {
    const r = this.d.store.get(id);
    if (r?.status !== 'pending' || ms <= 0) return;
    await new Promise<void>((resolve) => {
      let set = this.watchers.get(id);
      if (!set) this.watchers.set(id, (set = new Set()));
      const done = () => {
        clearTimeout(t);
        set!.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      set.add(done);
    });
  }

  list(q: Parameters<ApprovalsStore['list']>[0]): ApprovalView[] {
    return this.d.store.list(q).map((r) => this.view(r));
  }

  view(r: ApprovalRow): ApprovalView {
    const approvers = parseApprovers(r.approvers);
    const end = r.decidedAt === null ? this.now() : Date.parse(r.decidedAt);
    return {
      id: r.id,
      agentId: r.agentId,
      agentName: this.d.state.agentBrief(r.agentId)?.shownName ?? r.agentId,
      kind: r.kind as ApprovalView['kind'],
      service: r.service,
      tool: r.tool,
      method: r.method,
      args: r.args,
      rule: r.rule,
      approvers,
      approversText: approversText(approvers),
      ahead: r.ahead,
      note: r.note,
      requestedAt: r.requestedAt,
      expiresAt: r.expiresAt,
      status: r.status as ApprovalStatus,
      decidedBy: r.decidedBy,
      decidedAt: r.decidedAt,
      reason: r.reason,
      waitedMs: Math.max(0, end - Date.parse(r.requestedAt)),
      usedAt: r.usedAt,
    };
  }

  /** Shutting down: every call still waiting is told (expired: iron-cage stopped), so none hangs. */
  close(): number {
    const ids = [...this.waiting.keys()];
    for (const id of ids) this.finish(id, { status: 'expired', by: null, reason: 'iron-cage stopped while it waited' });
    return ids.length;
  }
}
