import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { reportBucketMs } from '../../src/domain/budget/index.js';
import { REFUSED_LEDGER_STATUS } from '../../src/domain/outcomes/index.js';
import { RequestsStore, schemaVersion, StateManager, type LedgerBucket, type LedgerGroup } from '../../src/state/index.js';
import { expectEqual } from '../helpers/cheap-expect.js';
import { startTestRuntime, tempDir } from '../helpers/runtime.js';

// The ledger's rollups (llm_totals, llm_running: migrations 0017-0018) against the ledger summed
// by hand, on a file with many agents, providers, models, statuses and days: rows written out of
// time order, streams opened pending and closed minutes later (after calls of later minutes),
// rows left pending and settled as interrupted at the next start, free calls. Checked as the
// triggers keep them, through GET /api/agents/:id/costs and the timeline's overview, and as an
// upgrade fills them from the llm_spend they replaced.

const MODELS = [
  ['openai', 'gpt-4o-mini'],
  ['openai', 'gpt-4o'],
  ['anthropic', 'claude-3-5-haiku-latest'],
  ['anthropic', 'claude-sonnet-4'],
] as const;
const MINUTE = 60_000;
const DAY = 1_440 * MINUTE;
/** Each agent's span: a short run (minute buckets), some hours, two days, twelve days, forty days (day-wide buckets past ten). */
const SPANS = [90 * MINUTE, 7 * 3_600_000, 2 * DAY, 12 * DAY, 40 * DAY];
const T0 = Date.parse('2026-10-01T00:00:00Z');

/** A deterministic stream of numbers in [0, 1). */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

interface LedgerRow {
  agent_id: string;
  ts: string;
  provider: string;
  model: string;
  status: string;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micros: number;
}

const { dir, cleanup } = tempDir();
const path = join(dir, 'iron_state.db');
const agents = SPANS.map((_, i) => `roll-${String(i).padStart(8, '0')}`);

beforeAll(async () => {
  const state = StateManager.open(path);
  const requests = new RequestsStore(state);
  const rand = rng(27);
  for (const id of agents) state.registerAgent({ id, name: id, kind: 'external', script: null, args: [], limitMicros: null });
  const row = (agentId: string, ms: number, status: string) => {
    const [provider, model] = MODELS[Math.floor(rand() * MODELS.length)]!;
    const charged = status === 'ok' && rand() > 0.1; // some calls cost nothing (a cache hit, a free model)
    return {
      ts: new Date(ms).toISOString(),
      agentId,
      endpoint: 'chat',
      provider,
      model,
      stream: false,
      status,
      httpStatus: status === 'ok' ? 200 : 502,
      promptTokens: Math.floor(rand() * 5_000),
      completionTokens: status === 'ok' ? Math.floor(rand() * 900) : 0,
      costMicros: charged ? 1 + Math.floor(rand() * 40_000) : 0,
      reservedMicros: 50_000,
      usageSource: 'provider',
      latencyMs: 3,
      firstByteMs: null,
      redactions: 0,
      error: null,
      attempts: 1,
      budgets: null,
    };
  };
  const open: Array<{ id: number; agentId: string }> = [];
  for (const [a, agentId] of agents.entries()) {
    const span = SPANS[a]!;
    const calls = 1_100 + a * 300; // each past SERIES_PER_CALL_MAX: its spend series is drawn from the buckets
    const batch: Array<ReturnType<typeof row>> = [];
    for (let i = 0; i < calls; i++) {
      // Mostly in time order, in bursts with quiet stretches; one in eight back in time by up to an hour.
      let ms = T0 + Math.floor((i / calls) ** 1.3 * span) + Math.floor(rand() * 50_000);
      if (rand() < 0.125) ms = Math.max(T0, ms - Math.floor(rand() * 3_600_000));
      const u = rand();
      // PII blocked some after pricing them: a refusal, never an error (src/domain/outcomes).
      batch.push(row(agentId, ms, u < 0.75 ? 'ok' : u < 0.8 ? REFUSED_LEDGER_STATUS : u < 0.9 ? 'error' : 'pending'));
    }
    for (let i = 0; i < batch.length; i += 100) {
      const part = batch.slice(i, i + 100);
      const { result } = await state.writeSoon((tx) => part.map((r) => ({ id: requests.insert(tx, r), r })), null);
      for (const { id, r } of result) if (r.status === 'pending') open.push({ id, agentId: r.agentId });
    }
  }
  // Most streams close, long after later calls of their agent settled; the rest stay pending.
  for (const [k, o] of open.entries()) {
    if (k % 4 === 3) continue;
    const ok = k % 3 !== 0;
    const end = {
      status: ok ? 'ok' : 'error',
      httpStatus: ok ? 200 : 502,
      promptTokens: 100 + k,
      completionTokens: ok ? 10 + k : 0,
      costMicros: ok ? 500 + k : 0,
      usageSource: 'provider',
      latencyMs: 9,
      firstByteMs: 1,
      redactions: 0,
      error: null,
      model: MODELS[k % MODELS.length]![1],
      attempts: 1,
      budgets: null,
    };
    await state.writeSoon((tx) => requests.finish(tx, o.id, end), null);
  }
  await state.close();
});

afterAll(() => cleanup());

/** The ledger's settled rows, read on a connection of the test's own. */
function ledger(): LedgerRow[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare("SELECT agent_id, ts, provider, model, status, prompt_tokens, completion_tokens, cost_micros FROM llm_requests WHERE status <> 'pending' ORDER BY id").all() as LedgerRow[];
  } finally {
    db.close();
  }
}

/** The agent's groups summed from its rows, in key order (provider, model, status). */
function groupsByHand(rows: LedgerRow[], agentId: string): LedgerGroup[] {
  const out = new Map<string, LedgerGroup>();
  for (const r of rows.filter((x) => x.agent_id === agentId)) {
    const key = JSON.stringify([r.provider, r.model, r.status]);
    const g = out.get(key) ?? { provider: r.provider, model: r.model, status: r.status, requests: 0, promptTokens: 0, completionTokens: 0, costMicros: 0 };
    g.requests++;
    g.promptTokens += r.prompt_tokens;
    g.completionTokens += r.completion_tokens;
    g.costMicros += r.cost_micros;
    out.set(key, g);
  }
  return [...out.keys()].sort().map((k) => out.get(k)!);
}

/** The agent's buckets of `w` ms summed from its rows, ascending, only those with calls. */
function bucketsByHand(rows: LedgerRow[], agentId: string, w: number): LedgerBucket[] {
  const out = new Map<number, LedgerBucket>();
  for (const r of rows.filter((x) => x.agent_id === agentId)) {
    const ms = Date.parse(r.ts);
    const start = ms - (ms % w);
    const b = out.get(start) ?? { start, requests: 0, errors: 0, costMicros: 0, lastChargedMs: null };
    b.requests++;
    if (r.status !== 'ok' && r.status !== REFUSED_LEDGER_STATUS) b.errors++;
    b.costMicros += r.cost_micros;
    if (r.cost_micros > 0) b.lastChargedMs = Math.max(b.lastChargedMs ?? ms, ms);
    out.set(start, b);
  }
  return [...out.values()].sort((a, b) => a.start - b.start);
}

const WIDTHS = [1, 2, 5, 15, 60, 360, 1_440, 4 * 1_440].map((m) => m * MINUTE);

/** The store's answers equal the ledger summed by hand, for every agent and bucket width. */
function expectStoreEqualsLedger(state: StateManager) {
  const requests = new RequestsStore(state);
  const rows = ledger();
  expect(rows.length).toBeGreaterThan(5_000);
  for (const a of agents) {
    expectEqual(requests.groupsFor(a), groupsByHand(rows, a), a);
    for (const w of WIDTHS) expectEqual(requests.bucketsFor(a, w), bucketsByHand(rows, a, w), `${a} by ${w / MINUTE} min`);
  }
  const spend = new Map<string, number>();
  for (const r of rows) spend.set(r.agent_id, (spend.get(r.agent_id) ?? 0) + r.cost_micros);
  expectEqual(requests.spendByAgent(), spend);
}

// Each check sums >5,000 ledger rows by hand for every agent and eight bucket widths beside the
// store's queries: several seconds of CPU alone, and 18 s of wall time for the first in a whole run
// on 2026-11-27 (four files at once on two cores), over half vitest's 30 s.
describe('the cost report rollups equal the ledger', { timeout: 60_000 }, () => {
  it('as the triggers keep them, rows left pending settled as interrupted at start', async () => {
    const state = StateManager.open(path);
    try {
      // What start-up does with the rows a dead process left pending.
      expect(new RequestsStore(state).settleInterrupted()).toBeGreaterThan(0);
      expectStoreEqualsLedger(state);
    } finally {
      await state.close();
    }
  });

  it('through GET /api/agents/:id/costs: totals, per model and status, buckets and the spend series', async () => {
    const t = await startTestRuntime({ dir });
    try {
      const rows = ledger();
      for (const a of agents) {
        const r = await t.api(`/api/agents/${a}/costs`);
        expect(r.status).toBe(200);
        const costs = await r.json();
        const mine = rows.filter((x) => x.agent_id === a);
        const times = mine.map((x) => Date.parse(x.ts));
        const w = reportBucketMs(Math.min(...times) - (Math.min(...times) % MINUTE), Math.max(...times) - (Math.max(...times) % MINUTE));
        expect(costs.bucketMinutes, a).toBe(w / MINUTE);
        expect(costs.requests, a).toBe(mine.length);
        expect(costs.promptTokens, a).toBe(mine.reduce((n, x) => n + x.prompt_tokens, 0));
        expect(costs.completionTokens, a).toBe(mine.reduce((n, x) => n + x.completion_tokens, 0));
        const byStatus: Record<string, number> = {};
        for (const x of mine) byStatus[x.status] = (byStatus[x.status] ?? 0) + 1;
        expectEqual(costs.byStatus, byStatus, a);
        // Per provider and model (a stream's model is the one it ended on, its provider the one it was sent to).
        const models = new Map<string, { requests: number; cost: number }>();
        for (const x of mine) {
          const key = `${x.provider} ${x.model}`;
          const m = models.get(key) ?? { requests: 0, cost: 0 };
          m.requests++;
          m.cost += x.cost_micros;
          models.set(key, m);
        }
        expectEqual(
          costs.byModel.map((m: { provider: string; model: string; requests: number; costUsd: number }) => [`${m.provider} ${m.model}`, m.requests, Math.round(m.costUsd * 1e6)]).sort(),
          [...models].map(([key, m]) => [key, m.requests, m.cost]).sort(),
          a,
        );
        const buckets = bucketsByHand(rows, a, w);
        expectEqual(
          costs.overTime,
          buckets.map((b) => ({ start: new Date(b.start).toISOString(), requests: b.requests, costUsd: b.costMicros / 1e6 })),
          a,
        );
        // More calls than SERIES_PER_CALL_MAX: a point per bucket with a charge, at its last charged call, running up to the whole spend.
        let total = 0;
        const series = buckets.filter((b) => b.lastChargedMs !== null).map((b) => [b.lastChargedMs, (total += b.costMicros) / 1e6]);
        expectEqual(costs.series, series, a);
        // The timeline overview's LLM calls, failures and spend per bucket (no tool calls here), each
        // epoch-aligned group of the ledger counted in the overview's bucket its start falls in.
        const o = await (await t.api(`/api/agents/${a}/timeline/overview`)).json();
        // Every row settled (the first test marked the pending ones interrupted): all in the rollups.
        expect(o.total.llm, a).toBe(mine.length);
        const expected = o.buckets.map(() => ({ llm: 0, errors: 0, costMicros: 0 }));
        for (const b of bucketsByHand(rows, a, o.bucketMs)) {
          const e = expected[Math.min(o.buckets.length - 1, Math.max(0, Math.floor((b.start - o.buckets[0].startMs) / o.bucketMs)))]!;
          e.llm += b.requests;
          e.errors += b.errors;
          e.costMicros += b.costMicros;
        }
        expectEqual(
          o.buckets.map((b: { llm: number; errors: number; costUsd: number }) => ({ llm: b.llm, errors: b.errors, costMicros: Math.round(b.costUsd * 1e6) })),
          expected,
          a,
        );
      }
    } finally {
      await t.stop();
    }
  });

  it('before 1970 too: a bucket is its calls rounded down to it (the remainder of a negative time is negative)', async () => {
    const old = tempDir();
    const state = StateManager.open(join(old.dir, 'iron_state.db'));
    try {
      const requests = new RequestsStore(state);
      state.registerAgent({ id: 'old', name: 'old', kind: 'external', script: null, args: [], limitMicros: null });
      const call = (ts: string) => ({
        ts,
        agentId: 'old',
        endpoint: 'chat',
        provider: 'openai',
        model: 'gpt-4o',
        stream: false,
        status: 'ok',
        httpStatus: 200,
        promptTokens: 1,
        completionTokens: 1,
        costMicros: 5,
        reservedMicros: 5,
        usageSource: 'provider',
        latencyMs: 1,
        firstByteMs: null,
        redactions: 0,
        error: null,
        attempts: 1,
        budgets: null,
      });
      await state.writeSoon((tx) => {
        for (const ts of ['1969-12-31T21:10:00.000Z', '1969-12-31T23:58:00.000Z', '1970-01-01T00:30:00.000Z']) requests.insert(tx, call(ts));
      }, null);
      const hour = 3_600_000;
      expect(requests.bucketsFor('old', hour).map((b) => [b.start, b.requests])).toEqual([
        [-3 * hour, 1],
        [-hour, 1],
        [0, 1],
      ]);
    } finally {
      await state.close();
      old.cleanup();
    }
  });

  it('as an upgrade fills them from llm_spend (a file from before migration 0017)', async () => {
    const raw = new Database(path);
    // llm_spend as 0016 left it, summed from the ledger as its triggers kept it; none of 0017-0018.
    raw.exec(`
      DROP TRIGGER llm_requests_rolled; DROP TRIGGER llm_requests_settled; DROP TABLE llm_totals; DROP TABLE llm_running;
      CREATE TABLE llm_spend (agent_id text NOT NULL, minute integer NOT NULL, provider text NOT NULL, model text NOT NULL, status text NOT NULL,
        requests integer NOT NULL, prompt_tokens integer NOT NULL, completion_tokens integer NOT NULL, cost_micros integer NOT NULL, last_charged_ms integer,
        PRIMARY KEY (agent_id, minute, provider, model, status)) WITHOUT ROWID;
      INSERT INTO llm_spend SELECT agent_id, ms - ms % 60000, provider, model, status, count(*), sum(prompt_tokens), sum(completion_tokens), sum(cost_micros), max(CASE WHEN cost_micros > 0 THEN ms END)
        FROM (SELECT *, CAST(round(unixepoch(ts, 'subsec') * 1000) AS INTEGER) AS ms FROM llm_requests WHERE status <> 'pending') GROUP BY 1, 2, 3, 4, 5;
      CREATE INDEX llm_requests_agent ON llm_requests (agent_id, id);`); // the ledger's second index by agent, which 0020 drops
    // The indexes 0021 drops.
    raw.exec('CREATE INDEX responses_agent ON responses (agent_id, created_at); CREATE INDEX conversations_agent ON conversations (agent_id, created_at);');
    // The agent's sandbox record, which 0022 adds.
    raw.exec('ALTER TABLE agents DROP COLUMN sandbox;');
    // What each agent keeps stored, and its triggers, which 0024 adds.
    raw.exec(
      'DROP TRIGGER responses_stored_in; DROP TRIGGER responses_stored_out; DROP TRIGGER responses_stored_changed; DROP TRIGGER response_items_stored_in; DROP TRIGGER response_items_stored_out; DROP TRIGGER response_items_stored_changed; DROP TRIGGER conversations_stored_in; DROP TRIGGER conversations_stored_out; DROP TRIGGER conversations_stored_changed; DROP TRIGGER conversation_items_stored_in; DROP TRIGGER conversation_items_stored_out; DROP TRIGGER conversation_items_stored_changed; DROP TABLE stored_usage;',
    );
    // The approvals, which 0025 adds (their triggers go with the table).
    raw.exec('DROP TABLE approvals;');
    // The MCP calls counted, and their trigger, which 0026 adds.
    raw.exec('DROP TRIGGER tool_calls_mcp; DROP TABLE mcp_totals;');
    // The ledger's refusal of DELETE, which 0027 adds.
    raw.exec('DROP TRIGGER llm_requests_no_delete;');
    // And 0016's triggers, which kept it.
    const migrations = join(import.meta.dirname, '../../src/state/migrations/sqlite');
    for (const statement of readFileSync(join(migrations, '0016_ledger_rollup_triggers.sql'), 'utf8').split('--> statement-breakpoint')) raw.exec(statement);
    const journal = JSON.parse(readFileSync(join(migrations, 'meta/_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> };
    const at = journal.entries.findIndex((e) => e.tag.endsWith('_cost_rollups'));
    expect(at).toBeGreaterThan(0);
    raw.pragma(`user_version = ${schemaVersion() - (journal.entries.length - at)}`);
    raw.close();
    const state = StateManager.open(path);
    try {
      expectStoreEqualsLedger(state);
    } finally {
      await state.close();
    }
  });
});
