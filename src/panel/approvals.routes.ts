import type { Hono } from 'hono';
import { oneLine, queryInt } from '../core/validation.js';
import * as z from 'zod';
import { ConflictError, ForbiddenError, NotFoundError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { assertRole, type Principal } from '../core/roles.js';
import { redact } from '../domain/pii/index.js';
import { mayApprove } from '../domain/policy/index.js';
import { readJsonBody, parseWith, type AppEnv } from '../server/index.js';
import { onPostgres, FleetApprovalsStore, TokensStore, RUNTIME_ID, type FleetApproval, type PanelDb, type UsersStore, type RuntimeDecision, type RuntimesStore } from '../state/index.js';
import type { PanelFeed } from './feed.js';
import type { Outage } from './outage.js';

// The fleet's approvals on the control panel: the runtimes' held calls as their
// events tell them, a queue panel users decide from, and the decisions each runtime reads back
// and applies with its own approval desk. The panel decides nothing for a runtime: it records
// one decision per approval (who, what, why; append-only), and the runtime's desk, which holds
// the call, checks it again and has the last word (a call it decided first keeps its outcome).

/** Where a runtime reads the panel's decisions on its approvals (a runtime token may call it). */
export const RUNTIME_APPROVALS_PATH = '/api/runtime/approvals';

/** GET /api/approvals on the panel. */
export interface FleetApprovalsResponse {
  /** Held on live runtimes, newest first (a panel decision may be on its way to the runtime: `panel`). */
  pending: FleetApproval[];
  /** Decided on their runtimes (by anyone, or by their timeout), latest first. */
  decided: FleetApproval[];
  /** The panel's clock (epoch ms): the page counts the time left from it. */
  now: number;
}

/** GET /api/runtime/approvals: the decisions after the runtime's cursor, and the next cursor. */
export interface RuntimeApprovalsResponse {
  decisions: RuntimeDecision[];
  cursor: number;
}

const reasonBody = z.strictObject({ reason: oneLine(500).optional() });
const params = z.object({
  runtime: z.string().regex(RUNTIME_ID, 'a runtime id is 1-63 letters, digits, ".", "_" or "-"'),
  id: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'an approval id is letters, digits, "_" or "-" (apr_…)'),
});
const runtimeQuery = z.strictObject({ after: queryInt(z.number().min(0)).default(0) });

export interface ApprovalsRoutesDeps {
  db: PanelDb;
  runtimes: RuntimesStore;
  users: Pick<UsersStore<'async'>, 'liveByName'>;
  feed: PanelFeed;
  outage: Outage;
  logger: Logger;
  now?: () => number;
}

const what = (a: FleetApproval) => `${a.method ? `${a.method} ` : ''}${a.service}.${a.tool}`;

/**
 * `GET /api/approvals` (the fleet's queue and its recent history; admins and viewers),
 * `POST /api/approvals/:runtime/:id/approve|deny` (`{reason?}`: a panel admin, or a panel user
 * the approval's rule names; one decision per approval, 409 `stale` for a second), and
 * `GET /api/runtime/approvals?after=` (a runtime token: the decisions on its approvals after
 * its cursor).
 */
export function approvalsRoutes(d: ApprovalsRoutesDeps) {
  const store = new FleetApprovalsStore(d.db);
  const tokens = new TokensStore(onPostgres(d.db));
  const now = d.now ?? Date.now;

  /**
   * Whether the principal is a user's own login, and so that user (whom a rule may name as an
   * approver): one that carries the user's id, or on this panel, where a password login is a
   * session row named after its user, that row, while the user is live. A name alone proves
   * nothing: an API token, a JWT or a login link's session may be called anything, a user's name
   * too. A decision is a person's pace, so reading the session's row for it is no hot path.
   */
  const loginOf = async (p: Principal): Promise<boolean> => {
    if (p.userId !== undefined) return true;
    if (p.apiToken !== true) return false;
    const row = p.jti === undefined ? null : await tokens.byId(p.jti);
    return row?.kind === 'session' && row.revokedAt === null && row.name === p.name && (await d.users.liveByName(p.name)) !== null;
  };

  /** Who decides, as the runtime's desk will check them again: a named user only when this is that user's own login. */
  const decider = async (p: Principal) => {
    const user = (await loginOf(p)) ? p.name : null;
    return { role: p.role, name: p.name, user, by: `panel ${p.role} ${p.name}` };
  };

  const decide = async (runtime: string, id: string, decision: 'approve' | 'deny', p: Principal, reason: string | null): Promise<FleetApproval> => {
    const a = await store.get(runtime, id);
    if (!a) throw new NotFoundError(`no approval ${id} of runtime ${runtime} on this panel`);
    const who = await decider(p);
    if (!mayApprove(a.approvers, who)) {
      const hint = who.role === 'viewer' && who.user === null ? 'viewer sessions are read-only; ' : '';
      throw new ForbiddenError(`${hint}approval ${id} may be decided by ${a.approversText} (rule ${a.rule}); ${who.by} is not among them`);
    }
    const rt = await d.runtimes.byId(runtime);
    if (!rt || rt.removedAt !== null) throw new NotFoundError(`runtime '${runtime}' has been removed from this panel`);
    const stale = (x: FleetApproval): ConflictError | null => {
      if (x.panel)
        return new ConflictError(`approval ${id} was already ${x.panel.decision === 'approve' ? 'approved' : 'denied'} on the panel by ${x.panel.by} at ${x.panel.at}: nothing changed`, 'stale');
      if (x.status !== 'pending')
        return new ConflictError(
          `approval ${id} was already ${x.status}${x.decidedBy ? ` by ${x.decidedBy}` : ''}${x.decidedAt ? ` at ${x.decidedAt}` : ''} on runtime ${runtime}: nothing changed`,
          'stale',
        );
      return null;
    };
    const before = stale(a);
    if (before) throw before;
    if (Date.parse(a.expiresAt) <= now()) throw new ConflictError(`approval ${id} ran out of time at ${a.expiresAt} (rule ${a.rule}): its runtime refuses the call`, 'stale');
    const at = new Date(now()).toISOString();
    const taken = await store.decide({ runtimeId: runtime, approvalId: id, decision, reason, role: who.role, name: who.name, userName: who.user, decidedBy: who.by, decidedAt: at });
    const after = await store.get(runtime, id);
    if (!taken) throw stale(after!) ?? new ConflictError(`approval ${id} was decided meanwhile: nothing changed`, 'stale');
    const message = `Approval ${id} of runtime ${runtime} (${a.agentName}: ${what(a)}, rule ${a.rule}) ${decision === 'approve' ? 'approved' : 'denied'} on the panel by ${who.by}${reason ? `: ${reason}` : ''}`;
    d.logger.info(message);
    d.feed.push({ kind: 'approval', runtime, id, decision, by: who.by, message });
    return after!;
  };

  return (app: Hono<AppEnv>) => {
    app.get('/api/approvals', async (c) => {
      assertRole(c.get('principal'), 'admin', 'viewer');
      parseWith(z.strictObject({}), c.req.query());
      const list = await d.outage.run(() => store.list());
      return c.json({ ...list, now: now() } satisfies FleetApprovalsResponse);
    });

    for (const decision of ['approve', 'deny'] as const) {
      app.post(`/api/approvals/:runtime/:id/${decision}`, async (c) => {
        const p = c.get('principal');
        assertRole(p, 'admin', 'viewer');
        const { runtime, id } = parseWith(params, c.req.param());
        const body = parseWith(reasonBody, await readJsonBody(c.req, { optional: true }));
        // A reason is shown wherever the decision is (the runtime's events, its dashboard, this panel): scanned like any text a person typed.
        const reason = body.reason === undefined ? null : redact(body.reason).text;
        return c.json(await d.outage.run(() => decide(runtime, id, decision, p, reason)));
      });
    }

    app.get(RUNTIME_APPROVALS_PATH, async (c) => {
      const p = c.get('principal');
      assertRole(p, 'runtime');
      const q = parseWith(runtimeQuery, c.req.query());
      const answer = await d.outage.run(async () => {
        const runtime = p.runtimeId ? await d.runtimes.byId(p.runtimeId) : null;
        // A removed runtime's token is revoked too; this only closes the few seconds a cached check lasts.
        if (!runtime || runtime.removedAt !== null) throw new ForbiddenError(`runtime '${p.runtimeId}' has been removed from this panel`);
        return store.forRuntime(runtime.id, q.after);
      });
      c.header('cache-control', 'no-store');
      return c.json(answer satisfies RuntimeApprovalsResponse);
    });
  };
}
