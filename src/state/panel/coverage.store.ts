import { eq, getTableName, sql, type SQL } from 'drizzle-orm';
import type { PoolClient } from 'pg';
import { ValidationError } from '../../core/errors.js';
import { coverage, windowStart, type BudgetPeriod } from './budgets.store.js';
import type { PanelDb } from './pg.js';
import { budgetCoverage, budgets, type BudgetRow } from './schema-panel.js';
import { budgetKeys, type BudgetKey, type TelemetryBatch } from '../telemetry.js';

// What a runtime was told a central budget covers, and so what its reported calls may charge
// (budget_coverage). Each lease answer's budget windows are recorded as told to its runtime, with
// the agents they covered, in the lease call's own transaction (`told`, leases.store.ts). A batch's
// new calls are charged, in the batch's transaction (ingest.store.ts), only to the windows their
// runtime was told of for their agent (`chargeable`); what they add to each is `charges`. A key
// told of for a budget since deleted, or deleted and made again, charges nothing; any other key
// the runtime was not told of refuses the batch (400 `budget_not_covered`).

/**
 * Each budget window of lease answers recorded as told to their runtimes, in the lease calls'
 * transaction (so before a runtime can read its answer): the agents it covered are added to those
 * it covered before in the window: the statement, written with the calls' grants. A row that
 * already says as much is left as it is.
 */
export function told(tx: PanelDb, grants: ReadonlyArray<{ runtimeId: string; budget: BudgetRow; window: number; covers: 'all' | readonly string[] }>, now: number): SQL {
  const C = budgetCoverage;
  return tx
    .insert(C)
    .values(
      grants.map((g) => ({
        runtimeId: g.runtimeId,
        budgetId: g.budget.id,
        windowStart: g.window,
        budgetCreatedAt: g.budget.createdAt,
        coversAll: g.covers === 'all',
        agents: g.covers === 'all' ? [] : [...g.covers].sort(),
        since: now,
      })),
    )
    .onConflictDoUpdate({
      target: [C.runtimeId, C.budgetId, C.windowStart, C.budgetCreatedAt],
      set: { coversAll: sql`${C.coversAll} or excluded.covers_all`, agents: sql`array(select distinct unnest(${C.agents} || excluded.agents) order by 1)` },
      setWhere: sql`(excluded.covers_all and not ${C.coversAll}) or not (${C.agents} @> excluded.agents)`,
    })
    .getSQL();
}

/** One reported call whose tag names central budgets: its id, its agent (the name when the panel knows it), the keys. */
export interface TaggedCall {
  id: number;
  agentId: string;
  agent: string | null;
  keys: readonly BudgetKey[];
}

/** A key a call is charged to: that budget window, of the budget made at `createdAt`. */
export interface ChargedKey extends BudgetKey {
  createdAt: string;
}

/** drizzle's connection (the batch's own, in its transaction): the statement below is prepared on it by name. */
const clientOf = (tx: PanelDb) => (tx as unknown as { $client: Pick<PoolClient, 'query'> }).$client;

/**
 * What each of a batch's keys (`$2`: `[{budget, win}]` as JSON) was told to runtime `$1` as, beside
 * the budget of that id now: one prepared statement (drizzle built and PostgreSQL planned it at
 * every batch).
 */
const TOLD = (() => {
  const C = budgetCoverage;
  const q = (c: { name: string }) => `"${c.name}"`;
  return `select x.budget, x.win, b.${q(budgets.createdAt)} as made, c.${q(C.budgetCreatedAt)}, c.${q(C.coversAll)}, c.${q(C.agents)}
    from json_to_recordset($2::json) as x(budget text, win bigint)
    join "${getTableName(C)}" c on c.${q(C.runtimeId)} = $1 and c.${q(C.budgetId)} = x.budget and c.${q(C.windowStart)} = x.win
    left join "${getTableName(budgets)}" b on b.${q(budgets.id)} = x.budget`;
})();

/** What a budget window was told to a runtime as, once per budget incarnation. */
interface Told {
  createdAt: string;
  all: boolean;
  agents: string[];
}

/**
 * Which central budgets a runtime's reported calls are charged to (ingest, in the batch's
 * transaction). A call's tag may name only a budget window the panel told this runtime of in a
 * lease answer, and only for an agent it said that budget covers there (budget_coverage): then it
 * is charged to it. A key told of for a budget since deleted, or deleted and made again, is a late
 * row of a call made while it covered the runtime: it lands, charged to nothing. Any other key is
 * refused with a ValidationError (code `budget_not_covered`) naming the first such call, the
 * budget and why; the caller's transaction then stores nothing of the batch. The runtime's own
 * clock is never read: the window was the panel's, when it answered.
 *
 * @example
 *   const charged = await chargeable(tx, { id: 'rt-ann', userId: 'ann' }, [{ id: 7, agentId: 'a1', agent: 'lead-gen', keys }], Date.now());
 */
export async function chargeable(tx: PanelDb, runtime: { id: string; userId: string | null }, calls: readonly TaggedCall[], now: number): Promise<ChargedKey[][]> {
  const keys = new Map<string, BudgetKey>();
  for (const c of calls) for (const k of c.keys) keys.set(`${k.budget}@${k.window}`, k);
  if (keys.size === 0) return calls.map(() => []);
  // One statement: what each key was told as (a key never told of has no row), beside the budget of that id now.
  const found = await clientOf(tx).query<{ budget: string; win: string; made: string | null; budget_created_at: string; covers_all: boolean; agents: string[] }>({
    name: 'coverage_told',
    text: TOLD,
    values: [runtime.id, JSON.stringify([...keys.values()].map((k) => ({ budget: k.budget, win: k.window })))],
  });
  const told = new Map<string, { made: string | null; proofs: Told[] }>();
  for (const r of found.rows) {
    const key = `${r.budget}@${Number(r.win)}`;
    let t = told.get(key);
    if (!t) told.set(key, (t = { made: r.made, proofs: [] }));
    t.proofs.push({ createdAt: r.budget_created_at, all: r.covers_all, agents: r.agents });
  }
  const covered = (t: Told, agent: string | null) => t.all || (agent !== null && t.agents.includes(agent));
  // Per key and agent: the incarnation it is charged to, null (its budget is gone: charged to nothing), or refused.
  const decided = new Map<string, string | null | undefined>();
  const out: ChargedKey[][] = [];
  for (const c of calls) {
    const mine: ChargedKey[] = [];
    for (const k of c.keys) {
      const key = `${k.budget}@${k.window}`;
      const memo = c.agent === null ? `${key}\u0001` : `${key}\u0000${c.agent}`;
      let d = decided.get(memo);
      if (!decided.has(memo)) {
        const t = told.get(key);
        const made = t?.made ?? null;
        const proofs = t?.proofs ?? [];
        if (made !== null && proofs.some((p) => p.createdAt === made && covered(p, c.agent))) d = made;
        else if (proofs.some((p) => p.createdAt !== made && covered(p, c.agent))) d = null;
        else {
          // Refused: the budget as it is now says why.
          const [b] = await tx.select().from(budgets).where(eq(budgets.id, k.budget));
          throw notCovered(c, k, b, proofs, runtime, now);
        }
        decided.set(memo, d);
      }
      if (d) mine.push({ budget: k.budget, window: k.window, createdAt: d });
    }
    out.push(mine);
  }
  return out;
}

const PERIOD_NAME = { day: 'a day', month: 'a month' } as const;
/** The latest time a Date holds (a key's window may say more). */
const MAX_DATE_MS = 8.64e15;

/** Why a call may not charge a key, as precisely as the runtime may know: of a budget that does not cover it, not even that it exists. */
function notCovered(c: TaggedCall, k: BudgetKey, b: BudgetRow | undefined, proofs: readonly Told[], runtime: { id: string; userId: string | null }, now: number): ValidationError {
  const agent = c.agent ?? c.agentId;
  const shown = (s: string) => `'${s.slice(0, 100)}'`;
  const toldNow = b === undefined ? undefined : proofs.find((t) => t.createdAt === b.createdAt);
  let why: string;
  if (b === undefined || (toldNow === undefined && coverage(b, runtime.userId) === null)) why = `no budget of that name covers runtime '${runtime.id}'`;
  else if (toldNow !== undefined) why = `it covers only agent${toldNow.agents.length === 1 ? '' : 's'} ${toldNow.agents.map(shown).join(', ')} on this runtime, not agent ${shown(agent)}`;
  else {
    const period = b.period as BudgetPeriod;
    const made = Date.parse(b.createdAt);
    if (period === 'none' ? k.window !== 0 : windowStart(period, k.window) !== k.window)
      why = period === 'none' ? 'a budget with no period has one window, 0' : `it is not the start of ${PERIOD_NAME[period]} (UTC), the budget's period`;
    else if (k.window > windowStart(period, now)) why = `it has not begun (the panel's clock reads ${new Date(now).toISOString()})`;
    else if (Number.isFinite(made) && k.window < windowStart(period, made)) why = `it began before the budget was made (${b.createdAt})`;
    else why = `the panel never leased this window of it to runtime '${runtime.id}'`;
  }
  const at = k.window === 0 || k.window > MAX_DATE_MS ? '' : ` (${new Date(k.window).toISOString()})`;
  return new ValidationError(
    `call id ${c.id} (agent ${shown(agent)}) names budget '${k.budget}' window ${k.window}${at}: ${why}; nothing of this batch was stored (a call is charged only to the budget windows leased to its runtime, for the agents they cover)`,
    'budget_not_covered',
  );
}

/** What a batch's new rows added to one central budget window for its runtime. */
export interface BudgetSpendDelta {
  budget: string;
  window: number;
  costMicros: number;
  calls: number;
}

/**
 * What the new ledger rows add to each central budget window their `budgets` tag names (the
 * ingest's last statement adds it to what the lease row holds), with the budget incarnation each
 * was checked against. Every key is checked first (`chargeable`): one the panel never leased to
 * this runtime for the row's agent refuses the batch (ValidationError, the transaction stores
 * nothing); one of a budget since deleted is left out. Only rows the batch inserted are given: a
 * row sent twice adds nothing.
 *
 * @example
 *   const deltas = await charges(tx, { id: 'rt-ann', userId: 'ann' }, freshCalls, names, Date.now());
 */
export async function charges(
  tx: PanelDb,
  rt: { id: string; userId: string | null },
  fresh: TelemetryBatch['llmRequests'],
  names: ReadonlyMap<string, string>,
  now: number,
): Promise<Array<BudgetSpendDelta & { createdAt: string }>> {
  // Checked when the batch was parsed (telemetryBatch); a string here cannot happen.
  const tagged = fresh.filter((r) => r.budgets !== null).map((r) => ({ row: r, keys: budgetKeys(r.budgets) as BudgetKey[] }));
  if (tagged.length === 0) return [];
  const charged = await chargeable(
    tx,
    rt,
    tagged.map(({ row, keys }) => ({ id: row.id, agentId: row.agentId, agent: names.get(row.agentId) ?? null, keys })),
    now,
  );
  const sums = new Map<string, BudgetSpendDelta & { createdAt: string }>();
  for (const [i, { row }] of tagged.entries()) {
    for (const k of charged[i] as ChargedKey[]) {
      const key = `${k.budget}@${k.window}`;
      let d = sums.get(key);
      if (!d) sums.set(key, (d = { budget: k.budget, window: k.window, costMicros: 0, calls: 0, createdAt: k.createdAt }));
      d.costMicros += row.costMicros;
      d.calls += 1;
    }
  }
  return [...sums.values()];
}
