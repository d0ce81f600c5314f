import type { Hono } from 'hono';
import * as z from 'zod';
import { NotFoundError } from '../core/errors.js';
import { formatUsd } from '../core/money.js';
import { assertRole, assertRuntime } from '../core/roles.js';
import { usdAmount } from '../core/validation.js';
import { readJsonBody, parseWith, type AppEnv } from '../server/index.js';
import { BUDGET_ID, BUDGET_PERIODS, BUDGET_SCOPES, MAX_BUDGET_NAMES, type BudgetInput, type BudgetView, type LeaseAnswer } from '../state/index.js';
import type { CentralBudgets } from './budgets.js';
import type { Outage } from './outage.js';

// Central budgets on the control panel: /api/budgets for admins (viewers read), and POST
// /api/leases, where a runtime token takes and returns headroom of the budgets that cover it.
// The contract: /work notes' central budgets contract, src/state/panel/budgets.store.ts and leases.store.ts.

/** The paths a runtime token may call here, beside telemetry. */
export const LEASE_PATHS = ['/api/leases'] as const;
/** A lease call's body: a few hundred bytes per budget. */
export const LEASE_MAX_BYTES = 64 * 1024;
/** The most budgets one lease call names. */
const MAX_ASKS = 256;
/** The most micro-dollars a lease figure may say (far above any limit: $1,000,000). */
const MAX_LEASE_MICROS = 1_000_000_000_000_000;

/** GET /api/budgets */
export interface BudgetsResponse {
  budgets: BudgetView[];
}
export type { BudgetView, LeaseAnswer, LeaseGrant, LeaseView } from '../state/index.js';

const budgetId = z.string().regex(BUDGET_ID, 'a budget id is 1-63 of a-z, 0-9, ".", "_" or "-", starting with a letter or digit');
const name = z
  .string()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'must hold no control characters');
const names = z.array(name).max(MAX_BUDGET_NAMES, `must list at most ${MAX_BUDGET_NAMES} names`);

const createBody = z.strictObject({
  id: budgetId,
  scope: z.enum(BUDGET_SCOPES),
  agents: names.default([]),
  users: names.default([]),
  period: z.enum(BUDGET_PERIODS).default('none'),
  limitUsd: usdAmount,
});
const patchBody = z
  .strictObject({ limitUsd: usdAmount.optional(), agents: names.optional(), users: names.optional(), period: z.enum(BUDGET_PERIODS).optional() })
  .refine((p) => Object.keys(p).length > 0, 'name what to change: limitUsd, agents, users or period');

const micros = z.number().int().min(0, 'must be 0 or more').max(MAX_LEASE_MICROS, `must be at most ${MAX_LEASE_MICROS}`);
/** A lease call's place in its runtime's order: its process's start (epoch ms) and the call's number there. */
const ordinal = z.number().min(1, 'must be 1 or more').max(Number.MAX_SAFE_INTEGER, `must be at most ${Number.MAX_SAFE_INTEGER}`).int();
const leaseBody = z
  .strictObject({
    incarnation: ordinal.optional(),
    seq: ordinal.optional(),
    budgets: z
      .array(
        z.strictObject({
          budget: budgetId,
          window: z.number().int().min(0, 'must be 0 or more').max(Number.MAX_SAFE_INTEGER),
          want: micros,
          used: micros.default(0),
          held: micros.default(0),
          waiting: z.number().int().min(0, 'must be 0 or more').max(1_000_000, 'must be at most 1000000').default(0),
          need: micros.default(0),
          rate: micros.default(0),
        }),
      )
      .max(MAX_ASKS, `a lease call names at most ${MAX_ASKS} budgets`),
  })
  .superRefine((b, ctx) => {
    // Ordered by both or not at all (an older runtime sends neither and is taken as it comes).
    if ((b.incarnation === undefined) !== (b.seq === undefined)) {
      const [missing, given] = b.incarnation === undefined ? ['incarnation', 'seq'] : ['seq', 'incarnation'];
      ctx.addIssue({ code: 'custom', path: [missing], message: `required with ${given}: a lease call is ordered by both (the runtime process's start, epoch ms, and the call's number in it)` });
    }
    const seen = new Set<string>();
    for (const [i, a] of b.budgets.entries()) {
      const key = `${a.budget}@${a.window}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['budgets', i], message: `budget ${a.budget} window ${a.window} is asked for twice` });
      seen.add(key);
    }
  });

export interface BudgetRoutesDeps {
  budgets: CentralBudgets;
  outage: Outage;
  now?: () => number;
}

/** /api/budgets (admins change, viewers read) and POST /api/leases (runtime tokens). */
export function budgetRoutes(d: BudgetRoutesDeps) {
  const store = d.budgets.store;
  const now = () => d.now?.() ?? Date.now();
  const one = async (id: string): Promise<BudgetView> => {
    const [v] = await d.outage.run(() => store.view(now(), id));
    if (!v) throw new NotFoundError(`no budget '${id}'`);
    return v;
  };
  return (app: Hono<AppEnv>) => {
    app.get('/api/budgets', async (c) => {
      assertRole(c.get('principal'), 'admin', 'viewer');
      return c.json({ budgets: await d.outage.run(() => store.view(now())) } satisfies BudgetsResponse);
    });
    app.get('/api/budgets/:id', async (c) => {
      assertRole(c.get('principal'), 'admin', 'viewer');
      return c.json(await one(c.req.param('id')));
    });
    app.post('/api/budgets', async (c) => {
      const p = c.get('principal');
      assertRole(p, 'admin');
      const body = parseWith(createBody, await readJsonBody(c.req));
      const input: BudgetInput = { id: body.id, scope: body.scope, agents: body.agents, users: body.users, period: body.period, limitMicros: body.limitUsd };
      await d.outage.run(() => store.create(input, p.name, new Date(now())));
      d.budgets.changed('created', input.id, `budget ${input.id} created by ${p.name}: ${describe(input)}`);
      return c.json(await one(input.id), 201);
    });
    app.patch('/api/budgets/:id', async (c) => {
      const p = c.get('principal');
      assertRole(p, 'admin');
      const body = parseWith(patchBody, await readJsonBody(c.req));
      const id = c.req.param('id');
      const { limitUsd, ...rest } = body;
      const row = await d.outage.run(() => store.update(id, { ...rest, ...(limitUsd !== undefined ? { limitMicros: limitUsd } : {}) }, new Date(now())));
      d.budgets.changed('updated', id, `budget ${id} changed by ${p.name}: ${describe({ ...row, scope: row.scope as BudgetInput['scope'], period: row.period as BudgetInput['period'] })}`);
      // New names may leave runtimes it no longer covers: what they hold unused comes back now.
      if (rest.agents !== undefined || rest.users !== undefined) await d.budgets.edited(id);
      return c.json(await one(id));
    });
    app.delete('/api/budgets/:id', async (c) => {
      const p = c.get('principal');
      assertRole(p, 'admin');
      const id = c.req.param('id');
      if (!(await d.outage.run(() => store.remove(id)))) throw new NotFoundError(`no budget '${id}'`);
      d.budgets.changed('deleted', id, `budget ${id} deleted by ${p.name} (its leases dropped; its calls keep their tags)`);
      return c.json({ id, deleted: true });
    });
    app.post('/api/leases', async (c) => {
      const p = c.get('principal');
      assertRuntime(p, p.runtimeId ?? '', 'budget leases are taken');
      // At most LEASE_MAX_BYTES: the server's body limit for this path (panel.service.ts).
      const body = parseWith(leaseBody, await readJsonBody(c.req));
      const order = body.incarnation !== undefined && body.seq !== undefined ? { incarnation: body.incarnation, seq: body.seq } : null;
      return c.json((await d.budgets.lease(p.runtimeId!, body.budgets, order)) satisfies LeaseAnswer);
    });
  };
}

/** `$500.00 a month on the team of agents a, b and users u1`, for the log. */
export function describe(b: Pick<BudgetInput, 'scope' | 'agents' | 'users' | 'period' | 'limitMicros'>): string {
  const per = b.period === 'none' ? '' : b.period === 'day' ? ' a day' : ' a month';
  const on =
    b.scope === 'fleet'
      ? 'the whole fleet'
      : b.scope === 'agent'
        ? `agent ${b.agents[0]}`
        : b.scope === 'user'
          ? `user ${b.users[0]}`
          : `the team of ${[b.agents.length > 0 ? `agents ${b.agents.join(', ')}` : '', b.users.length > 0 ? `users ${b.users.join(', ')}` : ''].filter(Boolean).join(' and ')}`;
  return `${formatUsd(b.limitMicros)}${per} on ${on}`;
}
