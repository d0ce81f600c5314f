// Budget use under concurrency: an agent makes 60 gpt-4o calls (max_tokens 2000, so
// about $0.02 worst case each), 16 at a time, against an upstream that takes 1 s per answer.
// With a $0.10 budget every call should be answered (the worst cases of 16 calls hold 3x the
// budget, so most calls wait for in-flight ones to settle instead of being refused). With a
// budget the calls run out and `near_limit: clamp`, the budget should be nearly all spent
// (≥ 95%) before the first refusal. Runs iron-cage in process with the simulated provider.
//
// `node dist/bench/budget-use.js` prints the table; the gateway bench imports `budgetUse()`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { createLogger } from '../../src/core/logger.js';
import { Runtime } from '../../src/runtime/index.js';
import { fmt, queryState, report, type Row } from './lib.js';

const CALLS = 60;
const CONCURRENCY = 16;
const BODY = JSON.stringify({
  model: 'gpt-4o',
  max_tokens: 2000,
  messages: [
    { role: 'system', content: 'You qualify B2B leads. Answer in two sentences.' },
    { role: 'user', content: 'Company: Acme Robotics, 120 employees, Series B, based in Warsaw. Is this a fit for an AI cost-control platform?' },
  ],
});

export interface BudgetRun {
  limitUsd: number;
  nearLimit: 'refuse' | 'clamp';
  answered: number;
  refused: number;
  of: number;
  spentUsd: number;
  /** Spend when the first call was refused, as a share of the limit; null: none was refused. */
  shareBeforeFirstRefusal: number | null;
  seconds: number;
}

export interface BudgetUse {
  /** The scenario: $0.10, 60 calls. Target: all 60 answered. */
  answered: number;
  of: number;
  full: BudgetRun;
  /** A budget the 60 calls run out, with near_limit: clamp. Target: ≥ 95% spent before the first refusal. */
  runOut: BudgetRun;
}

async function run(limitUsd: number, nearLimit: 'refuse' | 'clamp', latencyMs: number): Promise<BudgetRun> {
  const dir = mkdtempSync(join(tmpdir(), 'iron-budget-use-'));
  const g = DEFAULTS.gateway;
  const config: Config = {
    ...DEFAULTS,
    port: 0,
    db: join(dir, 'bench.db'),
    gateway: {
      ...g,
      // No provider key: gpt-4o goes to the simulated provider, which answers after `latencyMs`.
      providers: { ...g.providers, openai: { ...g.providers.openai, apiKey: null }, simulated: { latencyMs, chunkDelayMs: 0, failures: [] } },
      budgetPolicy: { ...g.budgetPolicy, nearLimit, onExhausted: 'refuse' },
    },
  };
  const rt = await Runtime.start({ config, logger: createLogger({ format: 'json', level: 'warn', stream: new Writable({ write: (_c, _e, cb) => cb() }) }) });
  try {
    const admin = { authorization: `Bearer ${rt.adminToken}`, 'content-type': 'application/json' };
    const made = await fetch(`${rt.url}/api/tokens`, { method: 'POST', headers: admin, body: JSON.stringify({ role: 'agent', name: 'bench', budgetUsd: limitUsd }) });
    const { token, agentId } = (await made.json()) as { token: string; agentId: string };
    let next = 0;
    let answered = 0;
    let refused = 0;
    const t0 = performance.now();
    const worker = async () => {
      while (next < CALLS) {
        next++;
        const r = await fetch(`${rt.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: BODY });
        await r.arrayBuffer();
        if (r.status === 200) answered++;
        else refused++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (performance.now() - t0) / 1000;
    const status = (await (await fetch(`${rt.url}/api/agents/${agentId}/status`, { headers: admin })).json()) as { budget: { spentUsd: number } };
    // The refusal's own event says what was spent at that moment.
    const first = queryState<{ data: string }>(rt.state.path, `SELECT data FROM events WHERE type = 'budget.refused' AND agent_id = ? ORDER BY seq LIMIT 1`, agentId);
    const spentAtRefusal = first ? (JSON.parse(first.data) as { spentUsd: number }).spentUsd : null;
    return { limitUsd, nearLimit, answered, refused, of: CALLS, spentUsd: status.budget.spentUsd, shareBeforeFirstRefusal: spentAtRefusal === null ? null : spentAtRefusal / limitUsd, seconds };
  } finally {
    await rt.shutdown('bench done');
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The budget-use figures of the gateway bench.
 *
 * @example
 *   const u = await budgetUse();
 *   console.log(`${u.answered} of ${u.of} answered; ${Math.round(u.runOut.shareBeforeFirstRefusal! * 100)}% spent before the first refusal`);
 */
export async function budgetUse(o: { latencyMs?: number; runOutLimitUsd?: number } = {}): Promise<BudgetUse> {
  const latencyMs = o.latencyMs ?? 1000;
  const full = await run(0.1, 'refuse', latencyMs);
  // About a sixth of what the 60 answers cost: the calls run out of budget part way through.
  const runOut = await run(o.runOutLimitUsd ?? 0.005, 'clamp', latencyMs);
  return { answered: full.answered, of: full.of, full, runOut };
}

/** The markdown rows for a BudgetUse. */
export function budgetUseRows(u: BudgetUse): Row[] {
  const share = u.runOut.shareBeforeFirstRefusal;
  return [
    {
      metric: `calls answered, $${u.full.limitUsd} budget, ${CALLS} gpt-4o calls (max_tokens 2000), ${CONCURRENCY} at a time, 1 s upstream`,
      value: `${u.answered} of ${u.of}`,
      target: `${u.of} of ${u.of}`,
      ok: u.answered === u.of,
    },
    { metric: 'spent of that budget', value: `$${fmt(u.full.spentUsd, 4)} in ${fmt(u.full.seconds, 1)} s`, target: '≤ $0.10', ok: u.full.spentUsd <= u.full.limitUsd },
    {
      metric: `budget spent before the first refusal, $${u.runOut.limitUsd} budget, near_limit: clamp`,
      value: share === null ? 'no refusal' : `${fmt(share * 100, 1)}% (${u.runOut.answered} answered, ${u.runOut.refused} refused)`,
      target: '≥ 95%',
      ok: share !== null && share >= 0.95,
    },
  ];
}

if (basename(process.argv[1] ?? '').startsWith('budget-use')) {
  const u = await budgetUse();
  report('budget-use', 'Budget use under concurrency (60 gpt-4o calls, 16 at a time)', budgetUseRows(u), { result: u });
}
