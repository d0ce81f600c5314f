import { and, eq, getTableColumns, getTableName, inArray } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Pool, PoolClient } from 'pg';
import { ForbiddenError, OutOfOrderError, ValidationError } from '../../core/errors.js';
import { charges, type BudgetSpendDelta } from './coverage.store.js';
import { drizzleOn, type PanelDb } from './pg.js';
import { agents, breakers, events, llmRequests, toolCalls } from './schema-pg.js';
import { MCP_TOOLS_CALL } from '../schema.js';
import type { TelemetryAck, TelemetryBatch } from '../telemetry.js';
import { pgCode } from '../db-errors.js';
import { landApprovals } from './fleet-approvals.store.js';
import { rollUp, rollupRows, type SpendDelta } from './spend.store.js';

// A telemetry batch into PostgreSQL, in one transaction of a few statements: the runtime's row
// locked (batches of one runtime land one at a time, in order), its sequence checked, every kind
// of row inserted by one statement (`INSERT … SELECT … FROM json_to_recordset(…)` a kind, as CTEs:
// one bind a kind however many rows), rows the panel already holds skipped by their keys, and
// only the new ledger rows added into the spend rollups and into the central budgets they name
// (budget_leases), each of which the panel must have leased to the runtime for the row's agent
// (else the whole batch is refused, 400), with the runtime's row, by one more. Agents and
// breakers are state: the latest row wins. The approvals the new events open and close are kept
// in fleet_approvals (fleet-approvals.store.ts).

/** An event as it landed on the panel (the WebSocket pushes these). */
export type LandedEvent = TelemetryBatch['events'][number] & { runtime: string };

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

/**
 * PostgreSQL's "could not serialize" and "deadlock detected", and a budget deleted between the
 * attribution's join and its key check (23503): the transaction is tried again.
 */
const RETRYABLE = new Set(['40001', '40P01', '23503']);
const ATTEMPTS = 5;

/** A column as a recordset reads it: its JSON key (the row's property), its name and SQL type, what an absent value becomes. */
interface Col {
  key: string;
  name: string;
  type: string;
  fallback: string | null;
}

/** A default as SQL text (the drizzle column's JavaScript default). */
function literal(v: unknown): string | null {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'string') return `'${v.replaceAll("'", "''")}'`;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return null;
}

function columnsOf(table: PgTable): Col[] {
  return (Object.entries(getTableColumns(table)) as Array<[string, PgColumn]>)
    .filter(([key]) => key !== 'runtimeId')
    .map(([key, c]) => ({ key, name: c.name, type: c.getSQLType(), fallback: c.notNull && c.hasDefault ? literal(c.default) : null }));
}

const q = (name: string) => `"${name}"`;

/**
 * One kind of reported row as a data-modifying CTE: `INSERT INTO t (runtime_id, cols) SELECT
 * $1, x.… FROM json_to_recordset($n) AS x(…)`, its rows one JSON text bound once (V8's
 * JSON.stringify, read back by PostgreSQL's own parser: an array bind per column cost the panel
 * more CPU than the rest of the batch). A row the panel holds is skipped (the ledger, events and
 * tool calls: append-only) or replaced (agents and breakers: state, the latest wins).
 */
function recordsetCte(name: string, table: PgTable, param: number, o: { keys: readonly string[]; upsert: boolean; returning: string }): string {
  const cols = columnsOf(table);
  const names = ['runtime_id', ...cols.map((c) => q(c.name))].join(', ');
  const values = ['$1', ...cols.map((c) => (c.fallback === null ? `x.${q(c.key)}` : `coalesce(x.${q(c.key)}, ${c.fallback})`))].join(', ');
  const shape = cols.map((c) => `${q(c.key)} ${c.type}`).join(', ');
  const onConflict = o.upsert
    ? `on conflict (runtime_id, ${o.keys.map(q).join(', ')}) do update set ${cols
        .filter((c) => !o.keys.includes(c.name))
        .map((c) => `${q(c.name)} = excluded.${q(c.name)}`)
        .join(', ')}`
    : 'on conflict do nothing';
  return `${name} as (insert into ${q(getTableName(table))} (${names}) select ${values} from json_to_recordset($${param}::json) as x(${shape}) ${onConflict} returning ${o.returning})`;
}

/** The kinds a batch may carry, in the order their CTEs run; each returns its new rows' keys. */
const KINDS = [
  { k: 'a', rows: (b: TelemetryBatch) => lastByKey(b.agents, (a) => a.id), table: agents, keys: ['id'], upsert: true, returning: `'a'::text as k, 0::bigint as n` },
  { k: 'b', rows: (b: TelemetryBatch) => lastByKey(b.breakers, (r) => r.service), table: breakers, keys: ['service'], upsert: true, returning: `'b'::text as k, 0::bigint as n` },
  { k: 'e', rows: (b: TelemetryBatch) => b.events, table: events, keys: ['seq'], upsert: false, returning: `'e'::text as k, seq as n` },
  { k: 'l', rows: (b: TelemetryBatch) => b.llmRequests, table: llmRequests, keys: ['id'], upsert: false, returning: `'l'::text as k, id as n` },
  { k: 't', rows: (b: TelemetryBatch) => b.toolCalls, table: toolCalls, keys: ['id'], upsert: false, returning: `'t'::text as k, id as n` },
] as const;

/** The one statement that inserts a batch's rows of the kinds `present` holds (text built once per combination, a prepared statement by its name). */
const rowStatements = new Map<string, string>();
function rowStatement(present: string): string {
  let text = rowStatements.get(present);
  if (text === undefined) {
    const ctes: string[] = [];
    const selects: string[] = [];
    let param = 2;
    for (const kind of KINDS) {
      if (!present.includes(kind.k)) continue;
      ctes.push(recordsetCte(`ins_${kind.k}`, kind.table, param++, { keys: kind.keys, upsert: kind.upsert, returning: kind.returning }));
      selects.push(`select k, n from ins_${kind.k}`);
    }
    text = `with ${ctes.join(', ')} ${selects.join(' union all ')}`;
    rowStatements.set(present, text);
  }
  return text;
}

/** The last row of each key (a batch may carry one agent twice: its state moved on). */
function lastByKey<T>(rows: readonly T[], key: (r: T) => string): T[] {
  return [...new Map(rows.map((r) => [key(r), r])).values()];
}

/** The runtime's row, locked: batches of one runtime land one at a time, in order. */
const RUNTIME_ROW = 'select id, user_id, removed_at, last_seq, last_seen_at, behind, event_seq, llm_request_id, tool_call_id, mcp_calls from runtimes where id = $1 for update';

/**
 * What the new ledger rows added (the spend rollups, the central budgets' lease rows) and the
 * runtime's row moved on, in one statement; text built once per combination.
 */
const afterStatements = new Map<string, string>();
function afterStatement(spend: boolean, leases: boolean): string {
  const key = `${spend ? 's' : ''}${leases ? 'l' : ''}`;
  let text = afterStatements.get(key);
  if (text !== undefined) return text;
  const ctes: string[] = [];
  const rollup = (table: string, bucket: string, param: number) =>
    `${table} as (insert into ${table} (${bucket}, runtime_id, agent_name, provider, model, calls, errors, refused, prompt_tokens, completion_tokens, cost_micros)
       select x.b, $1, x.agent, x.provider, x.model, x.calls, x.errors, x.refused, x.pt, x.ct, x.cost
         from json_to_recordset($${param}::json) as x(b bigint, agent text, provider text, model text, calls bigint, errors bigint, refused bigint, pt bigint, ct bigint, cost bigint)
       on conflict (${bucket}, runtime_id, agent_name, provider, model) do update
         set calls = ${table}.calls + excluded.calls, errors = ${table}.errors + excluded.errors, refused = ${table}.refused + excluded.refused, prompt_tokens = ${table}.prompt_tokens + excluded.prompt_tokens,
             completion_tokens = ${table}.completion_tokens + excluded.completion_tokens, cost_micros = ${table}.cost_micros + excluded.cost_micros)`;
  if (spend) ctes.push(rollup('spend_hourly', 'hour', 11), rollup('spend_daily', 'day', 12));
  // Joined with the budget as it was checked (its id and when it was made): one deleted since is left out.
  if (leases)
    ctes.push(`charged as (insert into budget_leases (budget_id, window_start, runtime_id, spent_micros, calls)
       select x.budget, x.win, $1, x.cost, x.calls
         from json_to_recordset($13::json) as x(budget text, win bigint, cost bigint, calls bigint, made text)
         join budgets on budgets.id = x.budget and budgets.created_at = x.made
        order by x.budget, x.win
       on conflict (budget_id, window_start, runtime_id) do update
         set spent_micros = budget_leases.spent_micros + excluded.spent_micros, calls = budget_leases.calls + excluded.calls
       returning budget_id, window_start)`);
  ctes.push(`moved as (update runtimes set last_seq = $2, last_seen_at = $3, behind = $4, event_seq = $5, llm_request_id = $6, tool_call_id = $7, mcp_calls = $8,
       hostname = coalesce($9, hostname), version = coalesce($10, version) where id = $1 returning last_seen_at, behind)`);
  text = `with ${ctes.join(', ')} select 'r'::text as k, null::text as budget, null::bigint as win, last_seen_at, behind from moved${
    leases ? ` union all select 'c', budget_id, window_start, null, null from charged` : ''
  }`;
  afterStatements.set(key, text);
  return text;
}

/**
 * Take one batch for its runtime. Throws OutOfOrderError for a batch from the future,
 * ForbiddenError for a runtime the panel does not know (removed), and ValidationError (code
 * `budget_not_covered`) for a new call charged to a budget window the panel did not lease to the
 * runtime for its agent (coverage.store.ts, `charges`); a batch already taken comes back
 * `duplicate` with nothing written.
 *
 * One transaction of a few statements however many rows (fleet benchmark: a round trip to
 * PostgreSQL cost the panel more than the SQL): the runtime's row locked; every row kind in one
 * statement; the coverage check when the new calls name central budgets; the rollups, the
 * budgets' spend and the runtime's row in one more. Each a prepared statement, by its shape.
 *
 * @example
 *   const { ack, events } = await ingestBatch(db, batch);
 */
export async function ingestBatch(db: PanelDb, b: TelemetryBatch, now = Date.now()): Promise<Ingested> {
  const pool = (db as unknown as { $client: Pool }).$client;
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('begin');
      const out = await ingestOnce(client, b, now);
      await client.query('commit');
      return out;
    } catch (e) {
      await client.query('rollback').catch((err: Error) => (broken = err));
      const code = pgCode(e) ?? '';
      // Class 22 (data exception): a value PostgreSQL cannot hold. The batch's fault, said as a 400.
      if (code.startsWith('22')) throw new ValidationError(`the panel cannot store this batch: ${(e as { cause?: Error }).cause?.message ?? (e as Error).message}`);
      if (attempt >= ATTEMPTS || !RETRYABLE.has(code)) throw e;
    } finally {
      // A connection that could not even roll back is not given back to the pool.
      client.release(broken);
    }
  }
}

async function ingestOnce(client: PoolClient, b: TelemetryBatch, now: number): Promise<Ingested> {
  const none = { agents: 0, events: 0, llmRequests: 0, toolCalls: 0, breakers: 0 };
  const found = await client.query<Record<string, string | null>>({ name: 'ingest_runtime', text: RUNTIME_ROW, values: [b.runtime] });
  const row = found.rows[0];
  if (!row || row.removed_at !== null) throw new ForbiddenError(`no runtime '${b.runtime}' on this panel (an admin adds it: POST /api/runtimes)`);
  const num = (v: string | null | undefined) => (v === null || v === undefined ? null : Number(v));
  const rt = {
    id: row.id!,
    userId: row.user_id ?? null,
    lastSeq: num(row.last_seq)!,
    lastSeenAt: num(row.last_seen_at),
    behind: num(row.behind)!,
    eventSeq: num(row.event_seq)!,
    llmRequestId: num(row.llm_request_id)!,
    toolCallId: num(row.tool_call_id)!,
    mcpCalls: num(row.mcp_calls)!,
  };
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

  // Every kind of row in one statement.
  let present = '';
  const values: unknown[] = [id];
  for (const kind of KINDS) {
    const rows = kind.rows(b);
    if (rows.length === 0) continue;
    present += kind.k;
    values.push(JSON.stringify(rows));
  }
  const fresh = { e: new Set<number>(), l: new Set<number>(), t: new Set<number>() };
  if (present !== '') {
    const r = await client.query<{ k: string; n: string }>({ name: `ingest_rows_${present}`, text: rowStatement(present), values });
    for (const x of r.rows) {
      if (x.k === 'a') stored.agents++;
      else if (x.k === 'b') stored.breakers++;
      else fresh[x.k as 'e' | 'l' | 't'].add(Number(x.n));
    }
  }
  stored.events = fresh.e.size;
  stored.llmRequests = fresh.l.size;
  stored.toolCalls = fresh.t.size;
  // The coverage check, approvals and names go through drizzle, on the batch's own connection (its transaction).
  const tx = drizzleOn(client);
  const landed: LandedEvent[] = fresh.e.size === 0 ? [] : b.events.filter((e) => fresh.e.has(e.seq)).map((e) => ({ ...e, runtime: id }));
  // The approvals these events open and close: the fleet's queue reads them, not the event log.
  if (landed.some((e) => e.type === 'approval.requested' || e.type === 'approval.decided')) await landApprovals(tx, id, landed);
  const freshCalls = fresh.l.size === 0 ? [] : b.llmRequests.filter((c) => fresh.l.has(c.id));
  const freshTools = fresh.t.size === 0 ? [] : b.toolCalls.filter((t) => fresh.t.has(t.id));
  const names = await agentNames(tx, id, b, [...freshCalls.map((c) => c.agentId), ...freshTools.map((t) => t.agentId), ...landed.map((e) => e.agentId)]);
  const spend = rollUp(freshCalls, landed, id, names);
  const charged = freshCalls.length > 0 ? await charges(tx, rt, freshCalls, names, now) : [];

  const max = (held: number, rows: ReadonlyArray<{ seq?: number; id?: number }>, k: 'seq' | 'id') => rows.reduce((m, r) => Math.max(m, r[k] as number), held);
  const after = await client.query<{ k: string; budget: string | null; win: string | null; last_seen_at: string | null; behind: string | null }>({
    name: `ingest_after_${spend.length > 0 ? 's' : ''}${charged.length > 0 ? 'l' : ''}`,
    text: afterStatement(spend.length > 0, charged.length > 0),
    values: [
      id,
      b.seq,
      Math.max(rt.lastSeenAt ?? 0, now),
      b.behind,
      max(rt.eventSeq, b.events, 'seq'),
      max(rt.llmRequestId, b.llmRequests, 'id'),
      max(rt.toolCallId, b.toolCalls, 'id'),
      // Its MCP calls, counted as their rows land (a row the panel already held counts nothing): the fleet view reads this, not tool_calls.
      rt.mcpCalls + freshTools.reduce((n, t) => n + (t.method === MCP_TOOLS_CALL ? 1 : 0), 0),
      b.hostname ?? null,
      b.version ?? null,
      ...(spend.length > 0 ? rollupRows(spend) : []),
      ...(charged.length > 0 ? [JSON.stringify(charged.map((d) => ({ budget: d.budget, win: d.window, cost: d.costMicros, calls: d.calls, made: d.createdAt })))] : []),
    ],
  });
  const moved = after.rows.find((x) => x.k === 'r')!;
  const landedKeys = new Set(after.rows.filter((x) => x.k === 'c').map((x) => `${x.budget}@${Number(x.win)}`));
  return {
    ack: { runtime: id, seq: b.seq, duplicate: false, stored },
    runtime: { id, lastSeenAt: num(moved.last_seen_at), behind: num(moved.behind)! },
    events: landed,
    spend,
    budgets: charged.filter((d) => landedKeys.has(`${d.budget}@${d.window}`)).map(({ createdAt: _, ...d }) => d),
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
