// What a hot insert costs in each query style, per row: the numbers behind the one style each
// table's statements are written in (src/state). Three ways to run the same INSERT on a WAL file:
//   hand SQL          a prepared statement whose SQL is written out by hand (the old way)
//   drizzle prepared  the query builder with sql.placeholder, prepared once (.prepare())
//   drizzle SQL, raw  the SQL drizzle renders from the table, prepared and bound without it
// Events are timed one commit per row (as state.record commits them) and, like the other hot
// tables, in group commits of 100 rows (as writer.soon does). Styles take turns, round after
// round, so a noisy machine slows them alike; each figure is the fastest round (the least
// disturbed one), the median round in brackets.
// Run: npm run bench -- writes
import Database from 'better-sqlite3';
import { getTableColumns, sql, type Placeholder, type SQLWrapper } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import type { SQLiteColumn, SQLiteTable } from 'drizzle-orm/sqlite-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { migrate } from '../../src/state/runtime/migrate.js';
import * as sharedTables from '../../src/state/schema.js';
import * as ownTables from '../../src/state/runtime/schema-runtime.js';
import { fmt, report, type Row } from './lib.js';

const ROUNDS = 25;
const ROWS = 2_000;
const BATCH = 100;

const dir = mkdtempSync(join(tmpdir(), 'iron-cage-bench-writes-'));
const sqlite = new Database(join(dir, 'bench.db'));
sqlite.pragma('journal_mode = WAL');
sqlite.pragma('synchronous = NORMAL');
migrate(sqlite);
const schema = { ...sharedTables, ...ownTables };
const orm = drizzle(sqlite, { schema });
const tx = sqlite.transaction((fn: () => void) => fn());

type Values = Record<string, unknown>;
type Insert = (v: Values) => void;

/** Every column but the generated key, each bound to a placeholder of its own name. */
function placeholders(table: SQLiteTable): Record<string, Placeholder> {
  const columns = Object.entries(getTableColumns(table) as Record<string, SQLiteColumn & { autoIncrement?: boolean }>).filter(([, c]) => !c.autoIncrement);
  return Object.fromEntries(columns.map(([key]) => [key, sql.placeholder(key)]));
}

function styles(table: SQLiteTable, handSql: string, driver: (v: Values) => Values): Record<string, Insert> {
  const query = orm.insert(table).values(placeholders(table) as never);
  const prepared = query.prepare();
  const hand = sqlite.prepare(handSql);
  const rendered = (query as unknown as SQLWrapper & { toSQL(): { sql: string; params: Array<{ value: Placeholder }> } }).toSQL();
  const raw = sqlite.prepare(rendered.sql);
  const names = rendered.params.map((p) => p.value.name!);
  return {
    'hand SQL': (v) => hand.run(driver(v)),
    'drizzle prepared': (v) => prepared.run(v),
    'drizzle SQL, raw': (v) => {
      const d = driver(v);
      raw.run(...names.map((n) => d[n]));
    },
  };
}

const now = new Date().toISOString();
const tables: Array<{ name: string; table: SQLiteTable; hand: string; row: Values; driver?: (v: Values) => Values }> = [
  {
    name: 'events',
    table: schema.events,
    hand: 'INSERT INTO events (ts, agent_id, type, severity, message, data) VALUES (@ts, @agentId, @type, @severity, @message, @data)',
    row: { ts: now, agentId: 'ab-00000001', type: 'agent.event', severity: 'debug', message: 'bench event', data: '{"t":1,"i":2}' },
  },
  {
    name: 'tool_calls',
    table: schema.toolCalls,
    hand: `INSERT INTO tool_calls (ts, agent_id, service, method, path, status, tier, reason, detail, upstream_status, latency_ms, upstream_ms, bytes, redactions, fault)
       VALUES (@ts, @agentId, @service, @method, @path, @status, @tier, @reason, @detail, @upstreamStatus, @latencyMs, @upstreamMs, @bytes, @redactions, @fault)`,
    row: {
      ts: now,
      agentId: 'ab-00000001',
      service: 'leads',
      method: 'GET',
      path: '/people/7',
      status: 200,
      tier: 'live',
      reason: 'ok',
      detail: null,
      upstreamStatus: 200,
      latencyMs: 1.25,
      upstreamMs: 1.1,
      bytes: 812,
      redactions: 0,
      fault: false,
    },
    driver: (v) => ({ ...v, fault: v.fault ? 1 : 0 }),
  },
  {
    name: 'pii_audit',
    table: schema.piiAudit,
    hand: `INSERT INTO pii_audit (ts, agent_id, location, request_ref, type, risk, severity, action, confidence, start, "end", value_hmac, value_sealed)
       VALUES (@ts, @agentId, @location, @requestRef, @type, @risk, @severity, @action, @confidence, @start, @end, @valueHmac, @valueSealed)`,
    row: {
      ts: now,
      agentId: 'ab-00000001',
      location: 'llm.response',
      requestRef: 'req-1',
      type: 'EMAIL',
      risk: 'medium',
      severity: 'warn',
      action: 'redacted',
      confidence: 0.9,
      start: 10,
      end: 30,
      valueHmac: 'a'.repeat(64),
      valueSealed: 'b'.repeat(120),
    },
  },
  {
    name: 'secret_audit_log',
    table: schema.secretAuditLog,
    hand: `INSERT INTO secret_audit_log (secret_name, operation, requester_role, requester, agent_id, success, error_message, timestamp)
       VALUES (@secretName, @operation, @requesterRole, @requester, @agentId, @success, @errorMessage, @timestamp)`,
    row: { secretName: 'LINKEDIN_TOKEN', operation: 'INJECT', requesterRole: 'agent', requester: 'ab-00000001', agentId: 'ab-00000001', success: true, errorMessage: null, timestamp: now },
    driver: (v) => ({ ...v, success: v.success ? 1 : 0 }),
  },
];

/** µs per row of each style: the fastest and the median round. */
function measure(cases: Record<string, Insert>, row: Values, batch: number): Record<string, { min: number; median: number }> {
  const times: Record<string, number[]> = {};
  const go = (insert: Insert) => {
    if (batch === 1) for (let i = 0; i < ROWS; i++) insert(row);
    else
      for (let i = 0; i < ROWS; i += batch)
        tx(() => {
          for (let j = 0; j < batch; j++) insert(row);
        });
  };
  for (const insert of Object.values(cases)) go(insert); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, insert] of Object.entries(cases)) {
      const t0 = performance.now();
      go(insert);
      (times[name] ??= []).push(((performance.now() - t0) * 1000) / ROWS);
    }
  }
  return Object.fromEntries(
    Object.entries(times).map(([name, t]) => {
      t.sort((a, b) => a - b);
      return [name, { min: t[0]!, median: t[Math.floor(t.length / 2)]! }];
    }),
  );
}

const rows: Row[] = [];
const results: Record<string, Record<string, { min: number; median: number }>> = {};
const add = (label: string, r: Record<string, { min: number; median: number }>) => {
  results[label] = r;
  const base = r['hand SQL']!.min;
  const pct = (us: number) => `${us >= base ? '+' : ''}${fmt(((us - base) / base) * 100, 0)}%`;
  rows.push({
    metric: label,
    value: Object.entries(r)
      .map(([name, t]) => `${name} ${fmt(t.min, 2)} µs ${pct(t.min)} [${fmt(t.median, 2)}]`)
      .join(' · '),
  });
};
for (const t of tables) {
  const cases = styles(t.table, t.hand, t.driver ?? ((v) => v));
  if (t.name === 'events') add('events, a commit per row (state.record)', measure(cases, t.row, 1));
  add(`${t.name}, group commits of ${BATCH} rows (writer.soon)`, measure(cases, t.row, BATCH));
}
sqlite.close();
rmSync(dir, { recursive: true, force: true });
report('writes', 'Insert cost per query style (npm run bench -- writes)', rows, { results });
