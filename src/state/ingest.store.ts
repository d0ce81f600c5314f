import { and, eq, getTableColumns, inArray, sql, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { ForbiddenError, OutOfOrderError, ValidationError } from '../core/errors.js';
import { chargeable, type ChargedKey } from './leases.store.js';
import type { PanelDb } from './pg.js';
import { budgetLeases, budgets, runtimes, spendDaily, spendHourly } from './schema-panel.js';
import { agents, breakers, events, llmRequests, toolCalls } from './schema-pg.js';
import { budgetKeys, type BudgetKey, type TelemetryAck, type TelemetryBatch } from './telemetry.js';
import { pgCode } from './db-errors.js';
import { landApprovals } from './fleet-approvals.store.js';

// A telemetry batch into PostgreSQL, in one transaction: the runtime's row locked (batches of
// one runtime land one at a time, in order), its sequence checked, each kind inserted with one
// statement (the ledger, events and tool calls as `INSERT … SELECT … FROM json_to_recordset(…)`:
// one bind however many rows), rows the panel already holds skipped by their keys,
// and only the new ledger rows added into the spend rollups and into the central budgets they
// name (budget_leases), each of which the panel must have leased to the runtime for the row's
// agent (else the whole batch is refused, 400). Agents and breakers are state: the latest row wins.
// The approvals the new events open and close are kept in fleet_approvals (fleet-approvals.store.ts).

/** An event as it landed on the panel (the WebSocket pushes these). */
export type LandedEvent = TelemetryBatch['events'][number] & { runtime: string };

/** Spend the batch added, per rollup key (an hour bucket; the day is derived). */
export interface SpendDelta {
  hour: number;
  day: number;
  runtimeId: string;
  agentName: string;
  provider: string;
  model: string;
  calls: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  costMicros: number;
}

export interface Ingested {
  ack: TelemetryAck;
  /** The runtime as it stands after the batch (unchanged for a duplicate). */
  runtime: { id: string; lastSeenAt: number | null; behind: number };
  /** Events new to the panel, in seq order. */
  events: LandedEvent[];
  spend: SpendDelta[];
  /** Spend the batch added to central budgets, per budget window (keys of a budget since deleted left out). */
  budgets: BudgetSpendDelta[];
  /** Ledger rows new to the panel (a row it already held is not here): what /metrics counts. */
  llmRequests: TelemetryBatch['llmRequests'];
  /** Tool calls new to the panel. */
  toolCalls: TelemetryBatch['toolCalls'];
  /** The name of each agent the new rows and events name, by its id on the runtime (an id the panel holds no agent row for is missing). */
  agentNames: ReadonlyMap<string, string>;
}

/** What a batch's new rows added to one central budget window for its runtime. */
export interface BudgetSpendDelta {
  budget: string;
  window: number;
  costMicros: number;
  calls: number;
}

/** The method of an MCP tools/call row (src/mcp/record.ts). */
const MCP_CALL = 'tools/call';
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/**
 * PostgreSQL's "could not serialize" and "deadlock detected", and a budget deleted between the
 * attribution's join and its key check (23503): the transaction is tried again.
 */
const RETRYABLE = new Set(['40001', '40P01', '23503']);
const ATTEMPTS = 5;

/**
 * `INSERT INTO t (runtime_id, cols) SELECT $runtime, x.… FROM json_to_recordset($rows) AS x(…) ON
 * CONFLICT DO NOTHING RETURNING key`: the rows go as one JSON text (V8's JSON.stringify, read
 * back by PostgreSQL's own parser), named by their keys in the batch. An array bind per column
 * (unnest) cost the panel more CPU than the rest of the batch: node-postgres escapes each array
 * element in JavaScript.
 */
function recordsetInsert(table: PgTable, rows: ReadonlyArray<Record<string, unknown>>, runtimeId: string, returning: PgColumn): SQL {
  const cols = (Object.entries(getTableColumns(table)) as Array<[string, PgColumn]>).filter(([key]) => key !== 'runtimeId');
  const names = sql.join([sql.identifier('runtime_id'), ...cols.map(([, c]) => sql.identifier(c.name))], sql`, `);
  const values = sql.join([sql`${runtimeId}`, ...cols.map(([key]) => sql`x.${sql.identifier(key)}`)], sql`, `);
  const shape = sql.join(
    cols.map(([key, c]) => sql`${sql.identifier(key)} ${sql.raw(c.getSQLType())}`),
    sql`, `,
  );
  return sql`insert into ${table} (${names}) select ${values} from json_to_recordset(${JSON.stringify(rows)}::json) as x(${shape}) on conflict do nothing returning ${sql.identifier(returning.name)}`;
}

/** The last row of each key (a batch may carry one agent twice: its state moved on). */
function lastByKey<T>(rows: readonly T[], key: (r: T) => string): T[] {
  return [...new Map(rows.map((r) => [key(r), r])).values()];
}

/** `set col = excluded.col` for every column but the keys: the row as reported replaces the held one. */
function excludedSet(table: PgTable, keys: readonly string[]): Record<string, SQL> {
  const set: Record<string, SQL> = {};
  for (const [key, c] of Object.entries(getTableColumns(table)) as Array<[string, PgColumn]>) if (!keys.includes(key)) set[key] = sql.raw(`excluded."${c.name}"`);
  return set;
}

const adding = (t: typeof spendHourly | typeof spendDaily) => ({
  calls: sql`${t.calls} + excluded.calls`,
  errors: sql`${t.errors} + excluded.errors`,
  promptTokens: sql`${t.promptTokens} + excluded.prompt_tokens`,
  completionTokens: sql`${t.completionTokens} + excluded.completion_tokens`,
  costMicros: sql`${t.costMicros} + excluded.cost_micros`,
});

/**
 * Take one batch for its runtime. Throws OutOfOrderError for a batch from the future,
 * ForbiddenError for a runtime the panel does not know (removed), and ValidationError (code
 * `budget_not_covered`) for a new call charged to a budget window the panel did not lease to the
 * runtime for its agent (leases.store.ts, `chargeable`); a batch already taken comes back
 * `duplicate` with nothing written.
 *
 * @example
 *   const { ack, events } = await ingestBatch(db, batch);
 */
export async function ingestBatch(db: PanelDb, b: TelemetryBatch, now = Date.now()): Promise<Ingested> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction((tx) => ingestOnce(tx as unknown as PanelDb, b, now));
    } catch (e) {
      const code = pgCode(e) ?? '';
      // Class 22 (data exception): a value PostgreSQL cannot hold. The batch's fault, said as a 400.
      if (code.startsWith('22')) throw new ValidationError(`the panel cannot store this batch: ${(e as { cause?: Error }).cause?.message ?? (e as Error).message}`);
      if (attempt >= ATTEMPTS || !RETRYABLE.has(code)) throw e;
    }
  }
}

async function ingestOnce(tx: PanelDb, b: TelemetryBatch, now: number): Promise<Ingested> {
  const none = { agents: 0, events: 0, llmRequests: 0, toolCalls: 0, breakers: 0 };
  const [rt] = await tx.select().from(runtimes).where(eq(runtimes.id, b.runtime)).for('update');
  if (!rt || rt.removedAt !== null) throw new ForbiddenError(`no runtime '${b.runtime}' on this panel (an admin adds it: POST /api/runtimes)`);
  if (b.seq <= rt.lastSeq)
    return {
      ack: { runtime: b.runtime, seq: b.seq, duplicate: true, stored: none },
      runtime: { id: rt.id, lastSeenAt: rt.lastSeenAt, behind: rt.behind },
      events: [],
      spend: [],
      budgets: [],
      llmRequests: [],
      toolCalls: [],
      agentNames: new Map(),
    };
  if (b.seq > rt.lastSeq + 1) throw new OutOfOrderError(rt.lastSeq + 1, b.seq);
  const id = b.runtime;
  const stored = { ...none };

  if (b.agents.length > 0) {
    const rows = lastByKey(b.agents, (a) => a.id).map((a) => ({ ...a, runtimeId: id }));
    stored.agents = (
      await tx
        .insert(agents)
        .values(rows)
        .onConflictDoUpdate({ target: [agents.runtimeId, agents.id], set: excludedSet(agents, ['runtimeId', 'id']) })
        .returning({ id: agents.id })
    ).length;
  }
  if (b.breakers.length > 0) {
    const rows = lastByKey(b.breakers, (r) => r.service).map((r) => ({ ...r, runtimeId: id }));
    stored.breakers = (
      await tx
        .insert(breakers)
        .values(rows)
        .onConflictDoUpdate({ target: [breakers.runtimeId, breakers.service], set: excludedSet(breakers, ['runtimeId', 'service']) })
        .returning({ s: breakers.service })
    ).length;
  }
  let landed: LandedEvent[] = [];
  if (b.events.length > 0) {
    const r = await tx.execute<{ seq: string | number }>(recordsetInsert(events, b.events, id, events.seq));
    const fresh = new Set(r.rows.map((x) => Number(x.seq)));
    landed = b.events.filter((e) => fresh.has(e.seq)).map((e) => ({ ...e, runtime: id }));
    stored.events = fresh.size;
    // The approvals these events open and close: the fleet's queue reads them, not the event log.
    await landApprovals(tx, id, landed);
  }
  let freshCalls: TelemetryBatch['llmRequests'] = [];
  let freshTools: TelemetryBatch['toolCalls'] = [];
  if (b.llmRequests.length > 0) {
    const r = await tx.execute<{ id: string | number }>(recordsetInsert(llmRequests, b.llmRequests, id, llmRequests.id));
    const fresh = new Set(r.rows.map((x) => Number(x.id)));
    stored.llmRequests = fresh.size;
    freshCalls = b.llmRequests.filter((c) => fresh.has(c.id));
  }
  if (b.toolCalls.length > 0) {
    const r = await tx.execute<{ id: string | number }>(recordsetInsert(toolCalls, b.toolCalls, id, toolCalls.id));
    stored.toolCalls = r.rows.length;
    const fresh = new Set(r.rows.map((x) => Number(x.id)));
    freshTools = b.toolCalls.filter((t) => fresh.has(t.id));
  }
  const names = await agentNames(tx, id, b, [...freshCalls.map((c) => c.agentId), ...freshTools.map((t) => t.agentId), ...landed.map((e) => e.agentId)]);
  const spend = rollUp(freshCalls, id, names);
  if (spend.length > 0) await storeSpend(tx, id, spend);
  const budgetSpend = freshCalls.length > 0 ? await attribute(tx, rt, freshCalls, names, now) : [];

  const max = (held: number, rows: ReadonlyArray<{ seq?: number; id?: number }>, k: 'seq' | 'id') => rows.reduce((m, r) => Math.max(m, r[k] as number), held);
  const [after] = await tx
    .update(runtimes)
    .set({
      lastSeq: b.seq,
      lastSeenAt: Math.max(rt.lastSeenAt ?? 0, now),
      behind: b.behind,
      eventSeq: max(rt.eventSeq, b.events, 'seq'),
      llmRequestId: max(rt.llmRequestId, b.llmRequests, 'id'),
      toolCallId: max(rt.toolCallId, b.toolCalls, 'id'),
      // Its MCP calls, counted as their rows land (a row the panel already held counts nothing): the fleet view reads this, not tool_calls.
      mcpCalls: rt.mcpCalls + freshTools.reduce((n, t) => n + (t.method === MCP_CALL ? 1 : 0), 0),
      ...(b.hostname !== undefined ? { hostname: b.hostname } : {}),
      ...(b.version !== undefined ? { version: b.version } : {}),
    })
    .where(eq(runtimes.id, id))
    .returning({ lastSeenAt: runtimes.lastSeenAt, behind: runtimes.behind });
  return {
    ack: { runtime: id, seq: b.seq, duplicate: false, stored },
    runtime: { id, lastSeenAt: after!.lastSeenAt, behind: after!.behind },
    events: landed,
    spend,
    budgets: budgetSpend,
    llmRequests: freshCalls,
    toolCalls: freshTools,
    agentNames: names,
  };
}

/**
 * The names of these agent ids: from the batch's own agent rows, else the rows the panel holds
 * (one query, only when some id is not in the batch).
 */
async function agentNames(tx: PanelDb, runtimeId: string, b: TelemetryBatch, ids: ReadonlyArray<string | null>): Promise<Map<string, string>> {
  const names = new Map(b.agents.map((a) => [a.id, a.name]));
  const unknown = [...new Set(ids)].filter((a): a is string => a !== null && !names.has(a));
  if (unknown.length > 0) {
    const held = await tx
      .select({ id: agents.id, name: agents.name })
      .from(agents)
      .where(and(eq(agents.runtimeId, runtimeId), inArray(agents.id, unknown)));
    for (const a of held) names.set(a.id, a.name);
  }
  return names;
}

/**
 * Add the new ledger rows' cost and count into budget_leases, per key their `budgets` tag names,
 * in one statement: `INSERT … SELECT … FROM json_to_recordset(…) JOIN budgets` `ON CONFLICT DO
 * UPDATE` adding to what the lease row holds. Every key is checked first (`chargeable`): one the
 * panel never leased to this runtime for the row's agent refuses the batch (ValidationError, the
 * transaction stores nothing); one of a budget since deleted is left out. Only rows this batch
 * inserted count: a row sent twice adds nothing.
 */
async function attribute(tx: PanelDb, rt: { id: string; userId: string | null }, fresh: TelemetryBatch['llmRequests'], names: ReadonlyMap<string, string>, now: number): Promise<BudgetSpendDelta[]> {
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
  if (sums.size === 0) return [];
  const L = budgetLeases;
  const name = (c: PgColumn) => sql.identifier(c.name);
  const rows = [...sums.values()];
  // Joined with the budget as it was checked (its id and when it was made): one deleted since is left out.
  const r = await tx.execute<{ budget_id: string; window_start: string | number }>(
    sql`insert into ${L} (${name(L.budgetId)}, ${name(L.windowStart)}, ${name(L.runtimeId)}, ${name(L.spentMicros)}, ${name(L.calls)})
      select x.budget, x.win, ${rt.id}, x.cost, x.calls
        from json_to_recordset(${JSON.stringify(rows.map((d) => ({ budget: d.budget, win: d.window, cost: d.costMicros, calls: d.calls, made: d.createdAt })))}::json)
             as x(budget text, win bigint, cost bigint, calls bigint, made text)
        join ${budgets} on ${budgets.id} = x.budget and ${budgets.createdAt} = x.made
       order by x.budget, x.win
      on conflict (${name(L.budgetId)}, ${name(L.windowStart)}, ${name(L.runtimeId)}) do update
        set ${name(L.spentMicros)} = ${L.spentMicros} + excluded.${name(L.spentMicros)},
            ${name(L.calls)} = ${L.calls} + excluded.${name(L.calls)}
      returning ${name(L.budgetId)}, ${name(L.windowStart)}`,
  );
  const landed = new Set(r.rows.map((x) => `${x.budget_id}@${Number(x.window_start)}`));
  return rows.filter((d) => landed.has(`${d.budget}@${d.window}`)).map(({ createdAt: _, ...d }) => d);
}

/** The new ledger rows summed per hour bucket, agent name, provider and model. */
function rollUp(rows: TelemetryBatch['llmRequests'], runtimeId: string, names: ReadonlyMap<string, string>): SpendDelta[] {
  const byHour = new Map<string, SpendDelta>();
  for (const r of rows) {
    const t = Date.parse(r.ts);
    const at = Number.isFinite(t) ? t : Date.now();
    const hour = at - (at % HOUR_MS);
    const agentName = names.get(r.agentId) ?? r.agentId;
    const key = `${hour}\u0000${agentName}\u0000${r.provider}\u0000${r.model}`;
    let d = byHour.get(key);
    if (!d)
      byHour.set(key, (d = { hour, day: at - (at % DAY_MS), runtimeId, agentName, provider: r.provider, model: r.model, calls: 0, errors: 0, promptTokens: 0, completionTokens: 0, costMicros: 0 }));
    d.calls += 1;
    if (r.status !== 'ok') d.errors += 1;
    d.promptTokens += r.promptTokens;
    d.completionTokens += r.completionTokens;
    d.costMicros += r.costMicros;
  }
  return [...byHour.values()];
}

/** Add what the new rows spent into spend_hourly and spend_daily (adding to what each key holds). */
async function storeSpend(tx: PanelDb, runtimeId: string, hourly: readonly SpendDelta[]): Promise<void> {
  const byDay = new Map<string, SpendDelta>();
  for (const h of hourly) {
    const key = `${h.day}\u0000${h.agentName}\u0000${h.provider}\u0000${h.model}`;
    const d = byDay.get(key);
    if (!d) byDay.set(key, { ...h });
    else for (const k of ['calls', 'errors', 'promptTokens', 'completionTokens', 'costMicros'] as const) d[k] += h[k];
  }
  const sums = (d: SpendDelta) => ({
    runtimeId,
    agentName: d.agentName,
    provider: d.provider,
    model: d.model,
    calls: d.calls,
    errors: d.errors,
    promptTokens: d.promptTokens,
    completionTokens: d.completionTokens,
    costMicros: d.costMicros,
  });
  await tx
    .insert(spendHourly)
    .values(hourly.map((d) => ({ hour: d.hour, ...sums(d) })))
    .onConflictDoUpdate({ target: [spendHourly.hour, spendHourly.runtimeId, spendHourly.agentName, spendHourly.provider, spendHourly.model], set: adding(spendHourly) });
  await tx
    .insert(spendDaily)
    .values([...byDay.values()].map((d) => ({ day: d.day, ...sums(d) })))
    .onConflictDoUpdate({ target: [spendDaily.day, spendDaily.runtimeId, spendDaily.agentName, spendDaily.provider, spendDaily.model], set: adding(spendDaily) });
}
