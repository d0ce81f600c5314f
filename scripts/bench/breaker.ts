// In-process cost of the circuit breaker: what a call pays to be refused while OPEN (the
// number whose target is < 50 µs) and to pass through a CLOSED breaker.
// Run: npm run bench, or node dist/bench/breaker.js after the build.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CircuitBreaker, CircuitOpenError, SUCCESS, serveWithFallback } from '../../src/domain/reliability/index.js';

const BATCH = 10_000;
const MAX_BATCHES = 300;
const BUDGET_NS = 400_000_000n; // per measurement, so the whole bench stays a few seconds

interface Row {
  metric: string;
  nsPerOp: number;
  p99BatchNsPerOp: number;
  ops: number;
  targetNs: number | null;
}

let sink = 0;

function openBreaker(clock?: { now(): number }): CircuitBreaker {
  const breaker = new CircuitBreaker('bench', { failureThreshold: 1, cooldownMs: 86_400_000 }, clock ? { clock } : {});
  const a = breaker.acquire();
  if (a.allowed) breaker.record(a.permit, { kind: 'failure', reason: 'http_503' });
  if (breaker.state !== 'OPEN') throw new Error('bench setup: breaker did not open');
  return breaker;
}

function summarise(metric: string, perBatch: number[], ops: number, targetNs: number | null): Row {
  const sorted = [...perBatch].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { metric, nsPerOp: at(0.5), p99BatchNsPerOp: at(0.99), ops, targetNs };
}

function measureSync(metric: string, op: () => void, targetNs: number | null): Row {
  for (let i = 0; i < BATCH * 5; i++) op(); // let the JIT settle before timing
  const perBatch: number[] = [];
  const start = process.hrtime.bigint();
  while (perBatch.length < MAX_BATCHES && process.hrtime.bigint() - start < BUDGET_NS) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) op();
    perBatch.push(Number(process.hrtime.bigint() - t0) / BATCH);
  }
  return summarise(metric, perBatch, perBatch.length * BATCH, targetNs);
}

async function measureAsync(metric: string, op: () => Promise<void>, targetNs: number | null): Promise<Row> {
  const batch = BATCH / 10;
  for (let i = 0; i < batch * 5; i++) await op();
  const perBatch: number[] = [];
  const start = process.hrtime.bigint();
  while (perBatch.length < MAX_BATCHES && process.hrtime.bigint() - start < BUDGET_NS) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) await op();
    perBatch.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  return summarise(metric, perBatch, perBatch.length * batch, targetNs);
}

const TARGET_REJECT_NS = 50_000;
const rows: Row[] = [];

const fixedClock = { now: () => 1_700_000_000_000 };
const openFixed = openBreaker(fixedClock);
rows.push(
  measureSync(
    'acquire() rejected while OPEN (fixed clock)',
    () => {
      const a = openFixed.acquire();
      if (!a.allowed) sink += a.retryAfterMs;
    },
    TARGET_REJECT_NS,
  ),
);

const openWall = openBreaker();
rows.push(
  measureSync(
    'acquire() rejected while OPEN (Date.now clock)',
    () => {
      const a = openWall.acquire();
      if (!a.allowed) sink += a.retryAfterMs;
    },
    TARGET_REJECT_NS,
  ),
);

const closed = new CircuitBreaker('bench-closed');
rows.push(
  measureSync(
    'acquire() + record() through CLOSED',
    () => {
      const a = closed.acquire();
      if (a.allowed) closed.record(a.permit, SUCCESS);
    },
    null,
  ),
);

const windowed = new CircuitBreaker('bench-window', { failureRate: { windowCalls: 100, minCalls: 20 } });
rows.push(
  measureSync(
    'acquire() + record() through CLOSED, failure-rate window',
    () => {
      const a = windowed.acquire();
      if (a.allowed) windowed.record(a.permit, SUCCESS);
    },
    null,
  ),
);

const noop = async (): Promise<number> => 1;
rows.push(
  await measureAsync(
    'call() rejected while OPEN (throws CircuitOpenError)',
    async () => {
      try {
        await openWall.call(noop);
      } catch (e) {
        if (e instanceof CircuitOpenError) sink += 1;
      }
    },
    TARGET_REJECT_NS,
  ),
);

rows.push(
  await measureAsync(
    'call() through CLOSED (async no-op upstream)',
    async () => {
      sink += await closed.call(noop);
    },
    null,
  ),
);

const cached = { lookup: () => 1 };
rows.push(
  await measureAsync(
    'serveWithFallback() while OPEN, cache hit',
    async () => {
      const r = await serveWithFallback({ breaker: openWall, live: noop, cache: cached });
      if (r.tier === 'cache') sink += r.value;
    },
    TARGET_REJECT_NS,
  ),
);

const fmt = (ns: number): string => (ns >= 1_000 ? `${(ns / 1_000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);
console.log('| metric | median per op | p99 batch per op | target |');
console.log('|---|---|---|---|');
for (const r of rows) {
  const target = r.targetNs === null ? '—' : `< ${fmt(r.targetNs)} ${r.nsPerOp < r.targetNs ? '✓' : '✗'}`;
  console.log(`| ${r.metric} | ${fmt(r.nsPerOp)} | ${fmt(r.p99BatchNsPerOp)} | ${target} |`);
}

const dir = join(process.cwd(), 'bench-results');
mkdirSync(dir, { recursive: true });
const out = {
  bench: 'breaker',
  node: process.version,
  at: new Date().toISOString(),
  batchSize: BATCH,
  results: rows.map((r) => ({ ...r, pass: r.targetNs === null ? null : r.nsPerOp < r.targetNs })),
};
writeFileSync(join(dir, 'breaker.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(`\nwrote bench-results/breaker.json (checksum ${sink % 997})`);
// A missed target shows in the table; the run itself succeeded.
