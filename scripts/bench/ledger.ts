// What one gateway call's ledger write costs, and where: the statements the gateway runs (the
// `llm_requests` row with its triggers, the `llm.request` event with its trigger) on a state file
// made by the migrations and filled through the StateManager (lib.ts fillRun), each part timed:
//   row       the row's INSERT (its indexes, sqlite_sequence, the rollup triggers)
//   event     the event's INSERT (its indexes, sqlite_sequence, events_counted)
//   commit    COMMIT (the WAL frames written; synchronous=NORMAL: no fsync)
//   ckpt      the checkpoint SQLite runs every wal_autocheckpoint frames, amortised per call
//             (PASSIVE, as autocheckpoint runs it; it fsyncs the WAL and the database file)
// and the WAL frames each commit writes, by the table or index their page belongs to (dbstat).
// A JSON call is one transaction (row settled + event); a stream two (its pending row at the
// first byte; at its end the row's settling UPDATE + event). Variants of the schema (an index
// dropped, a cut of migrations 0027 or 0028 put back, …) are made on copies of the same file and
// take turns, round after round; each figure is the median round.
// Run: npm run bench -- ledger
//   LEDGER_ROWS calls filled first (100,000), or LEDGER_FILE a filled file to copy (LEDGER_KEEP: where to keep the one
//   filled); LEDGER_CALLS a round (1,500), LEDGER_ROUNDS (5); LEDGER_VARIANTS a comma list of variant names;
//   LEDGER_TRIGGERS a file of ledger triggers (0018's form: statements between `--> statement-breakpoint`) to try as one more variant.
import Database from 'better-sqlite3';
import { and, eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { closeSync, copyFileSync, existsSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { boundRun } from '../../src/state/runtime/bound.js';
import { StateManager, storeDb } from '../../src/state/runtime/manager.js';
import { events, llmRequests } from '../../src/state/schema.js';
import { fillRun, fmt, median, report, type Row } from './lib.js';

const ROWS = Number(process.env.LEDGER_ROWS ?? 100_000);
const CALLS = Number(process.env.LEDGER_CALLS ?? 1_500);
const ROUNDS = Number(process.env.LEDGER_ROUNDS ?? 5);
const AGENTS = Array.from({ length: 8 }, (_, i) => `agent-${i}`);

/**
 * A variant of the schema: DDL run on a copy of the filled file (`BARE t`: t made again with its
 * rows alone, no index but its key, no trigger; `AUTOINCREMENT t`: t's key as it was before
 * migration 0027, its sequence at its largest id).
 */
const VARIANTS: Record<string, string[]> = {
  base: [],
  // What migrations 0027 and 0028 cut from each call's write, put back one at a time.
  'AUTOINCREMENT (before 0027)': ['AUTOINCREMENT llm_requests', 'AUTOINCREMENT events'],
  'llm.request counted in event_counts (before 0028)': [
    'DROP TRIGGER events_counted',
    'CREATE TRIGGER events_counted AFTER INSERT ON events WHEN NEW.agent_id IS NOT NULL BEGIN INSERT INTO event_counts (agent_id, type, severity, n) VALUES (NEW.agent_id, NEW.type, NEW.severity, 1) ON CONFLICT (agent_id, type, severity) DO UPDATE SET n = n + 1; END',
  ],
  // The (agent_id, id) index migration 0020 dropped, made again: what it cost.
  'with llm_requests_agent': ['CREATE INDEX IF NOT EXISTS llm_requests_agent ON llm_requests (agent_id, id)'],
  'no llm_requests_agent_ts': ['DROP INDEX llm_requests_agent_ts'],
  'no ledger triggers': ['DROP TRIGGER llm_requests_rolled', 'DROP TRIGGER llm_requests_settled'],
  'no events_counted': ['DROP TRIGGER events_counted'],
  ...(process.env.LEDGER_TRIGGERS
    ? {
        'triggers of LEDGER_TRIGGERS': [
          'DROP TRIGGER llm_requests_rolled',
          'DROP TRIGGER llm_requests_settled',
          ...readFileSync(process.env.LEDGER_TRIGGERS, 'utf8').split('--> statement-breakpoint'),
        ],
      }
    : {}),
  // SQLite's own cost of the same statements: the two tables alone, no AUTOINCREMENT,
  // no index but their keys, no trigger. Every run prints the base over it.
  'SQLite floor': ['BARE llm_requests', 'BARE events'],
  'checkpoint 400': [],
  'checkpoint 1000': [],
  'checkpoint 4000': [],
};
/** Frames between checkpoints (wal_autocheckpoint) of a variant: its name's number, else the StateManager's. */
const autocheckpoint = (variant: string) => Number(/^checkpoint (\d+)$/.exec(variant)?.[1] ?? AUTOCHECKPOINT);

interface Sample {
  row: number;
  event: number;
  commit: number;
  ckpt: number;
  ckptCpu: number;
  frames: number;
  cpu: number;
}

const dir = mkdtempSync(join(tmpdir(), 'iron-cage-bench-ledger-'));
const base = join(dir, 'base.db');
const filled = process.env.LEDGER_FILE ? (copyFileSync(process.env.LEDGER_FILE, base), { seconds: 0 }) : await fillRun(base, { rows: ROWS, events: Math.round(ROWS * 2.5), agentIds: AGENTS });
process.stderr.write(`filled ${fmt(ROWS, 0)} calls in ${fmt(filled.seconds, 1)} s\n`);

/** The StateManager's wal_autocheckpoint, as it sets it on its connection (src/state/runtime/manager.ts). */
const AUTOCHECKPOINT = await (async () => {
  const state = StateManager.open(base);
  const n = storeDb(state).sqlite.pragma('wal_autocheckpoint', { simple: true }) as number;
  await state.close();
  return n;
})();

const wanted = process.env.LEDGER_VARIANTS?.split(',') ?? Object.keys(VARIANTS);
const files: Record<string, string> = {};
for (const name of wanted) {
  const file = join(dir, `${name.replace(/\W+/g, '-')}.db`);
  copyFileSync(base, file);
  const db = new Database(file);
  const t0 = performance.now();
  for (const s of VARIANTS[name]!) s.startsWith('AUTOINCREMENT ') ? autoincrement(db, s.slice(14)) : s.startsWith('BARE ') ? bare(db, s.slice(5)) : db.exec(s);
  db.close();
  if (VARIANTS[name]!.length > 0) process.stderr.write(`${name}: made from the filled file in ${fmt((performance.now() - t0) / 1000, 2)} s\n`);
  files[name] = file;
}

/** `table` made again with its rows alone: no AUTOINCREMENT, no index but its key, no trigger. */
function bare(db: Database.Database, table: string): void {
  const create = (db.prepare("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?").get(table) as { sql: string }).sql;
  db.pragma('foreign_keys = OFF');
  db.transaction(() => {
    db.exec(create.replace(/^CREATE TABLE [`"]?\w+[`"]?/, `CREATE TABLE \`${table}_new\``).replace(' AUTOINCREMENT', ''));
    db.exec(`INSERT INTO \`${table}_new\` SELECT * FROM \`${table}\``);
    db.exec(`DROP TABLE \`${table}\``);
    db.exec(`ALTER TABLE \`${table}_new\` RENAME TO \`${table}\``);
    db.exec(`DELETE FROM sqlite_sequence WHERE name = '${table}'`);
  })();
  db.pragma('foreign_keys = ON');
}

/** `table`'s key AUTOINCREMENT again, as before migration 0027 (the same edit of its DDL, the other way), its sequence at its largest id. */
function autoincrement(db: Database.Database, table: string): void {
  db.unsafeMode(true);
  db.transaction(() => {
    db.exec('PRAGMA writable_schema = ON');
    db.prepare("UPDATE sqlite_schema SET sql = replace(sql, 'PRIMARY KEY NOT NULL', 'PRIMARY KEY AUTOINCREMENT NOT NULL') WHERE type = 'table' AND name = ?").run(table);
    db.exec('PRAGMA writable_schema = RESET');
    const key = table === 'events' ? 'seq' : 'id';
    db.prepare(`INSERT INTO sqlite_sequence (name, seq) SELECT ?, coalesce(max(${key}), 0) FROM \`${table}\``).run(table);
  })();
  db.unsafeMode(false);
}

/** The gateway's statements (as RequestsStore and Writer build them) on a connection with the StateManager's pragmas, checkpoints by hand. */
function open(file: string) {
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('wal_autocheckpoint = 0');
  sqlite.pragma('foreign_keys = ON');
  const orm = drizzle(sqlite);
  const p = sql.placeholder;
  const t = llmRequests;
  const cols = [
    'ts',
    'agentId',
    'endpoint',
    'provider',
    'model',
    'stream',
    'status',
    'httpStatus',
    'promptTokens',
    'completionTokens',
    'costMicros',
    'reservedMicros',
    'usageSource',
    'latencyMs',
    'firstByteMs',
    'redactions',
    'error',
    'attempts',
    'budgets',
    'step',
    'chain',
  ] as const;
  const insertRow = boundRun(
    sqlite,
    orm
      .insert(t)
      .values(Object.fromEntries(cols.map((c) => [c, p(c)])) as never)
      .toSQL(),
  );
  const ends = ['status', 'httpStatus', 'promptTokens', 'completionTokens', 'costMicros', 'usageSource', 'latencyMs', 'firstByteMs', 'redactions', 'error', 'model', 'attempts', 'budgets'] as const;
  const finishRow = orm
    .update(t)
    .set(Object.fromEntries(ends.map((c) => [c, sql`${p(c)}`])))
    .where(and(eq(t.id, p('id')), sql`${sql.raw("status = 'pending'")}`))
    .prepare();
  const insertEvent = boundRun(
    sqlite,
    orm
      .insert(events)
      .values({ ts: p('ts'), agentId: p('agentId'), type: p('type'), severity: p('severity'), message: p('message'), data: p('data') })
      .toSQL(),
  );
  const begin = sqlite.prepare('BEGIN');
  const commit = sqlite.prepare('COMMIT');
  return { sqlite, insertRow, finishRow, insertEvent, begin, commit };
}

type Conn = ReturnType<typeof open>;

const now = () => process.hrtime.bigint();
const us = (a: bigint, b: bigint) => Number(b - a) / 1000;

function callRow(j: number, status: string) {
  const ok = status !== 'error';
  return {
    ts: new Date().toISOString(),
    agentId: AGENTS[0]!,
    endpoint: 'chat',
    provider: 'openai',
    model: 'gpt-4o-mini',
    stream: 0,
    status,
    httpStatus: status === 'pending' ? 200 : ok ? 200 : 502,
    promptTokens: 120 + (j % 400),
    completionTokens: status === 'pending' ? 0 : 16 + (j % 200),
    costMicros: status === 'pending' ? 0 : 30 + (j % 500),
    reservedMicros: 900,
    usageSource: 'provider',
    latencyMs: 0.3 + (j % 100) / 10,
    firstByteMs: null,
    redactions: 0,
    error: null,
    attempts: 1,
    budgets: null,
    step: null,
    chain: null,
  };
}

function eventOf(id: number, r: ReturnType<typeof callRow>) {
  return {
    ts: new Date().toISOString(),
    agentId: r.agentId,
    type: 'llm.request',
    severity: 'debug',
    message: `${r.model} ${r.promptTokens}+${r.completionTokens} tokens $0.0001 · 12% of $5.00`,
    data: JSON.stringify({
      requestId: id,
      endpoint: r.endpoint,
      provider: r.provider,
      model: r.model,
      stream: false,
      status: r.status,
      httpStatus: r.httpStatus,
      promptTokens: r.promptTokens,
      completionTokens: r.completionTokens,
      costUsd: r.costMicros / 1e6,
      spentUsd: 0.61,
      limitUsd: 5,
      latencyMs: r.latencyMs,
      redactions: 0,
      usageSource: 'provider',
      attempts: 1,
    }),
  };
}

/** WAL frames (their page numbers) appended since `from` bytes; the WAL only grows between checkpoints here. */
function framesSince(wal: number, from: number, pageSize: number): { pages: number[]; size: number } {
  const size = fstatSync(wal).size;
  const pages: number[] = [];
  const head = Buffer.alloc(4);
  for (let off = Math.max(from, 32); off + 24 + pageSize <= size; off += 24 + pageSize) {
    readSync(wal, head, 0, 4, off);
    pages.push(head.readUInt32BE(0));
  }
  return { pages, size };
}

/**
 * `CALLS` calls on `c`, each its own transaction(s) as at c=1, parts timed; a PASSIVE checkpoint
 * each time the WAL has gathered AUTOCHECKPOINT frames (what wal_autocheckpoint does); the frames of
 * each commit read back from the WAL when `pagesOf` is given.
 */
function round(c: Conn, file: string, stream: boolean, every: number, pagesOf?: Map<number, number>): Sample {
  const s: Sample = { row: 0, event: 0, commit: 0, ckpt: 0, ckptCpu: 0, frames: 0, cpu: 0 };
  const pageSize = c.sqlite.pragma('page_size', { simple: true }) as number;
  c.sqlite.pragma('wal_checkpoint(TRUNCATE)');
  const wal = openSync(`${file}-wal`, 'r');
  let walAt = 0;
  let sinceCkpt = 0;
  const cpu0 = process.cpuUsage();
  const tx = (fn: () => void): void => {
    c.begin.run();
    fn();
    const t1 = now();
    c.commit.run();
    const t2 = now();
    s.commit += us(t1, t2);
    if (pagesOf) {
      const f = framesSince(wal, walAt, pageSize);
      walAt = f.size;
      for (const p of f.pages) pagesOf.set(p, (pagesOf.get(p) ?? 0) + 1);
      s.frames += f.pages.length;
      sinceCkpt += f.pages.length;
    } else {
      sinceCkpt += framesPerTx;
    }
    if (!pagesOf && sinceCkpt >= every) {
      const t3 = now();
      const u = process.cpuUsage();
      c.sqlite.pragma('wal_checkpoint(PASSIVE)');
      s.ckpt += us(t3, now());
      const du = process.cpuUsage(u);
      s.ckptCpu += du.user + du.system;
      sinceCkpt = 0;
    }
  };
  for (let j = 0; j < CALLS; j++) {
    if (!stream) {
      tx(() => {
        const r = callRow(j, j % 50 === 0 ? 'error' : 'ok');
        const a = now();
        const id = Number(c.insertRow(r).lastInsertRowid);
        const b = now();
        c.insertEvent(eventOf(id, r));
        s.row += us(a, b);
        s.event += us(b, now());
      });
    } else {
      let id = 0;
      const r = callRow(j, 'pending');
      tx(() => {
        const a = now();
        id = Number(c.insertRow(r).lastInsertRowid);
        s.row += us(a, now());
      });
      tx(() => {
        const end = { ...callRow(j, 'ok'), id };
        const a = now();
        if (c.finishRow.run(end).changes !== 1) throw new Error('not settled');
        const b = now();
        c.insertEvent(eventOf(id, end));
        s.row += us(a, b);
        s.event += us(b, now());
      });
    }
  }
  const cpu = process.cpuUsage(cpu0);
  s.cpu = (cpu.user + cpu.system) / CALLS;
  closeSync(wal);
  for (const k of ['row', 'event', 'commit', 'ckpt', 'ckptCpu', 'frames'] as const) s[k] /= CALLS;
  return s;
}

/** Frames per transaction, as measured on the variant's file (set before its timed rounds). */
let framesPerTx = 11;

const rows: Row[] = [];
const attribution: Record<string, unknown> = {};
for (const stream of [false, true]) {
  const kind = stream ? 'stream (2 commits)' : 'JSON (1 commit)';
  const conns = Object.fromEntries(wanted.map((n) => [n, open(files[n]!)]));
  const frames: Record<string, number> = {};
  // Pages first: which tables and indexes each commit writes.
  for (const n of wanted) {
    const pagesOf = new Map<number, number>();
    const s = round(conns[n]!, files[n]!, stream, autocheckpoint(n), pagesOf);
    frames[n] = s.frames / (stream ? 2 : 1);
    const owner = new Map<number, string>((conns[n]!.sqlite.prepare('SELECT pageno, name FROM dbstat').all() as Array<{ pageno: number; name: string }>).map((r) => [r.pageno, r.name]));
    const by = new Map<string, number>();
    for (const [p, k] of pagesOf) {
      const name = p === 1 ? 'page 1 (header, schema)' : (owner.get(p) ?? 'freelist/new');
      by.set(name, (by.get(name) ?? 0) + k);
    }
    const perCall = [...by].map(([name, k]) => [name, k / CALLS] as const).sort((a, b) => b[1] - a[1]);
    attribution[`${kind} ${n}`] = Object.fromEntries(perCall.map(([a, b]) => [a, Number(b.toFixed(2))]));
    process.stderr.write(`${kind} ${n}: ${fmt(s.frames, 2)} frames/call: ${perCall.map(([a, b]) => `${a} ${fmt(b, 2)}`).join(', ')}\n`);
  }
  const samples: Record<string, Sample[]> = Object.fromEntries(wanted.map((n) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const n of r % 2 === 0 ? wanted : [...wanted].reverse()) {
      framesPerTx = frames[n]!;
      samples[n]!.push(round(conns[n]!, files[n]!, stream, autocheckpoint(n)));
    }
  }
  const cpuOf = (n: string) => median(samples[n]!.map((s) => s.cpu));
  if (samples.base && samples['SQLite floor']) {
    const ratio = cpuOf('base') / cpuOf('SQLite floor');
    rows.push({
      metric: `${kind}: the ledger write over SQLite's own (the floor: the same statements on the two tables alone), CPU µs/call`,
      value: `${fmt(cpuOf('base'), 1)} / ${fmt(cpuOf('SQLite floor'), 1)} = ${fmt(ratio, 2)}×`,
      target: '≤ 2×',
      ok: ratio <= 2,
    });
  }
  for (const n of wanted) {
    const m = (k: keyof Sample) => median(samples[n]!.map((s) => s[k]));
    const spread = (k: keyof Sample) => `${fmt(Math.min(...samples[n]!.map((s) => s[k])), 1)}–${fmt(Math.max(...samples[n]!.map((s) => s[k])), 1)}`;
    const total = m('row') + m('event') + m('commit') + m('ckpt');
    rows.push({
      metric: `${kind}, ${n}: µs/call row · event · commit · checkpoint (its CPU) = total (CPU µs/call [spread]); WAL frames/call`,
      value: `${fmt(m('row'), 1)} · ${fmt(m('event'), 1)} · ${fmt(m('commit'), 1)} · ${fmt(m('ckpt'), 1)} (${fmt(m('ckptCpu'), 1)}) = ${fmt(total, 1)} (${fmt(m('cpu'), 1)} [${spread('cpu')}]); ${fmt(frames[n]! * (stream ? 2 : 1), 2)}`,
    });
  }
  for (const c of Object.values(conns)) c.sqlite.close();
}
report('ledger', `The ledger write per call (${fmt(ROWS, 0)} calls in the file, ${CALLS} calls a round, median of ${ROUNDS} rounds)`, rows, { attribution });
if (process.env.LEDGER_KEEP) copyFileSync(base, process.env.LEDGER_KEEP);
if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
