// What GET /metrics costs: the gateway benchmark's json c=16 load (`iron-cage serve`
// in front of the mock upstream, budget, persistence and PII redaction on) with and without a
// scraper fetching /metrics every second, as Prometheus would. The runs alternate (without,
// with; then with, without…) so a machine busy with something else slows both alike, and the
// delta is the median of each round's ratio. The scraper is a process of its own (Prometheus is
// not in the gateway's process either). Before that, the scrape itself: its duration and size
// as the registry grows to 100 agents × 4 models.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool, request } from 'undici';
import { load, REQUEST, serveMock, startGateway, startMock } from './gateway/load.js';
import { api, cpuMs, fmt, median, percentile, report, type Row } from './lib.js';

const ROUNDS = 10;
/** Calls per run (at most 8 s of them): 2 s at the gateway bench's 10k req/s, so each run sees a few scrapes. */
const CALLS_PER_RUN = 20_000;
/** Back-to-back scrapes whose gateway CPU is measured (/proc counts in 10 ms ticks). */
const CPU_SCRAPES = 100;
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'gpt-4.1'];
/** Agents the registry holds at each step (the `bench` agent of the load counts as one). */
const AGENT_STEPS = [10, 100];

if (process.argv[2] === 'mock') await serveMock();
else if (process.argv[2] === 'scraper') scraperChild(process.argv[3]!);
else await main();

interface Scrape {
  ms: number;
  bytes: number;
  series: number;
}

async function scrape(origin: string, read = true): Promise<Scrape> {
  const s = performance.now();
  const r = await request(`${origin}/metrics`);
  if (r.statusCode !== 200) throw new Error(`GET /metrics: ${r.statusCode} ${await r.body.text()}`);
  // The scraper during the load only takes the bytes: Prometheus would parse them on its own machine.
  if (!read) {
    await r.body.dump({ limit: Number.MAX_SAFE_INTEGER });
    return { ms: performance.now() - s, bytes: 0, series: 0 };
  }
  const text = await r.body.text();
  const ms = performance.now() - s;
  let series = 0;
  for (const line of text.split('\n')) if (line !== '' && line[0] !== '#') series++;
  return { ms, bytes: Buffer.byteLength(text), series };
}

/** The scraper process: on `start`, GET /metrics at once and every second; on `stop`, report the durations. */
function scraperChild(origin: string): void {
  let timer: NodeJS.Timeout | null = null;
  let times: number[] = [];
  const once = () =>
    void scrape(origin, false).then(
      (s) => times.push(s.ms),
      (err: unknown) => process.send!({ error: String(err) }),
    );
  process.on('message', (m: string) => {
    if (m === 'start') {
      times = [];
      once();
      timer = setInterval(once, 1000);
    } else if (m === 'stop') {
      if (timer) clearInterval(timer);
      process.send!({ times });
    } else if (m === 'exit') process.exit(0);
  });
  process.send!({ ready: true });
}

function startScraper(origin: string): { child: ChildProcess; ready: Promise<void>; run: () => void; stop: () => Promise<number[]> } {
  const child = fork(process.argv[1]!, ['scraper', origin], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.on('message', (m: { error?: string }) => {
    if (m.error) console.error(`scraper: ${m.error}`);
  });
  return {
    child,
    ready: new Promise<void>((r) => child.once('message', () => r())),
    run: () => child.send('start'),
    stop: () =>
      new Promise<number[]>((resolve) => {
        const on = (m: { times?: number[] }) => {
          if (!m.times) return;
          child.off('message', on);
          resolve(m.times);
        };
        child.on('message', on);
        child.send('stop');
      }),
  };
}

/** Scrape duration (median and p95 of `n`, one after another) and size, at the registry's present size. */
async function scrapeFigures(origin: string, n = 30): Promise<{ p50: number; p95: number; bytes: number; series: number }> {
  const runs: Scrape[] = [];
  for (let i = 0; i < n; i++) runs.push(await scrape(origin));
  const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p95: percentile(ms, 95), bytes: runs.at(-1)!.bytes, series: runs.at(-1)!.series };
}

/** Agents `from`…`to - 1`, each minted over the API and making one call per model, 16 at a time. */
async function addAgents(origin: string, admin: string, from: number, to: number): Promise<void> {
  const pool = new Pool(origin, { connections: 16 });
  const ids = Array.from({ length: to - from }, (_, i) => from + i);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < ids.length) {
        const i = ids[next++]!;
        const { token } = await api(origin, '/api/tokens', admin, { role: 'agent', name: `agent-${String(i).padStart(3, '0')}`, budgetUsd: 1000 });
        for (const model of MODELS) {
          const r = await pool.request({
            path: '/v1/chat/completions',
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ ...JSON.parse(REQUEST), model }),
          });
          if (r.statusCode !== 200) throw new Error(`agent ${i} ${model}: HTTP ${r.statusCode} ${await r.body.text()}`);
          await r.body.dump();
        }
      }
    }),
  );
  await pool.close();
}

async function main(): Promise<void> {
  const load0 = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'iron-metrics-bench-'));
  const mock = await startMock();
  const gw = await startGateway(dir, mock.url, { admin: true });
  const scraper = startScraper(gw.origin);
  const rows: Row[] = [];
  const results: Record<string, unknown> = {};
  try {
    await scraper.ready;
    const path = '/v1/chat/completions';
    // Warm the gateway as the gateway bench does (JIT, pools, tokenizer tables).
    await load(mock.url, path, 'x', REQUEST, 4, 500, false);
    await load(gw.origin, path, gw.token, REQUEST, 4, 1500, false);

    // The scrape itself as the registry grows.
    const sizes: Record<string, unknown> = {};
    const sized = async (agents: number, models: number) => {
      const f = await scrapeFigures(gw.origin);
      sizes[`${agents}x${models}`] = f;
      rows.push({
        metric: `scrape with ${agents} agent${agents === 1 ? '' : 's'} × ${models} model${models === 1 ? '' : 's'}: duration p50 / p95, size`,
        value: `${fmt(f.p50, 2)} / ${fmt(f.p95, 2)} ms, ${fmt(f.bytes / 1024, 0)} KB (${fmt(f.series, 0)} series)`,
      });
    };
    await sized(1, 1);
    let have = 1;
    for (const n of AGENT_STEPS) {
      await addAgents(gw.origin, gw.admin!, have, n);
      have = n;
      await sized(n, MODELS.length);
    }
    results.scrape = sizes;
    // What a scrape costs the gateway in CPU, at that size: one a second is this share of the one
    // core its event loop runs on, the most it can take from the throughput, whatever else the
    // machine is doing (the A/B below measures it directly, and is noisy on a shared machine).
    const cpuBefore = cpuMs(gw.child.pid!);
    for (let i = 0; i < CPU_SCRAPES; i++) await scrape(gw.origin, false);
    const cpuPerScrape = (cpuMs(gw.child.pid!) - cpuBefore) / CPU_SCRAPES;
    results.cpuPerScrapeMs = cpuPerScrape;
    rows.push({
      metric: `gateway CPU per scrape (${have} agents × ${MODELS.length} models); share of a core at one scrape a second`,
      value: `${fmt(cpuPerScrape, 2)} ms; ${fmt(cpuPerScrape / 10, 2)}%`,
      target: '< 3%',
      ok: cpuPerScrape / 10 < 3,
    });

    // Throughput with and without the scraper, alternating; its registry is the 100 × 4 one.
    const per = { without: [] as Array<{ rps: number; cpu: number }>, with: [] as Array<{ rps: number; cpu: number; scrapes: number[] }> };
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const);
      for (const mode of order) {
        if (mode === 'with') scraper.run();
        const cpu0 = cpuMs(gw.child.pid!);
        const r = await load(gw.origin, path, gw.token, REQUEST, 16, CALLS_PER_RUN, false);
        const cpu = (cpuMs(gw.child.pid!) - cpu0) / r.n;
        if (mode === 'with') per.with.push({ rps: r.n / r.seconds, cpu, scrapes: await scraper.stop() });
        else per.without.push({ rps: r.n / r.seconds, cpu });
      }
      ratios.push(per.with[round]!.rps / per.without[round]!.rps);
    }
    const delta = (median(ratios) - 1) * 100;
    const rps = (xs: Array<{ rps: number }>) => median(xs.map((x) => x.rps));
    const cpu = (xs: Array<{ cpu: number }>) => median(xs.map((x) => x.cpu));
    const during = per.with.flatMap((w) => w.scrapes).sort((a, b) => a - b);
    rows.push({ metric: 'json c=16 req/s without / with a scrape every second (median of runs)', value: `${fmt(rps(per.without), 0)} / ${fmt(rps(per.with), 0)}` });
    rows.push({
      metric: 'json c=16 throughput delta with the scraper (median of paired rounds)',
      value: `${delta >= 0 ? '+' : ''}${fmt(delta, 2)}% (rounds ${ratios.map((r) => `${r >= 1 ? '+' : ''}${fmt((r - 1) * 100, 1)}%`).join(', ')})`,
      target: '|delta| < 3%',
      ok: Math.abs(delta) < 3,
    });
    const best = (xs: Array<{ rps: number }>) => Math.max(...xs.map((x) => x.rps));
    rows.push({
      metric: 'json c=16 req/s of the least disturbed run without / with',
      value: `${fmt(best(per.without), 0)} / ${fmt(best(per.with), 0)} (${fmt((best(per.with) / best(per.without) - 1) * 100, 2)}%)`,
    });
    rows.push({
      metric: 'json c=16 gateway CPU per request without / with the scraper',
      value: `${fmt(cpu(per.without), 3)} / ${fmt(cpu(per.with), 3)} ms (${fmt((cpu(per.with) / cpu(per.without) - 1) * 100, 1)}%)`,
    });
    rows.push({
      metric: 'scrape duration under the c=16 load, p50 / max',
      value: `${fmt(percentile(during, 50), 2)} / ${fmt(during.at(-1) ?? Number.NaN, 2)} ms (${during.length} scrapes)`,
    });
    const load1 = loadavg();
    rows.push({ metric: 'machine load average (1 min) at start / end', value: `${fmt(load0[0]!, 2)} / ${fmt(load1[0]!, 2)}` });
    results.throughput = { rounds: ROUNDS, per, ratios, deltaPercent: delta, loadavg: { start: load0, end: load1 } };
  } finally {
    scraper.child.send('exit');
    gw.child.kill('SIGTERM');
    await new Promise((r) => gw.child.once('exit', r));
    mock.close();
    rmSync(dir, { recursive: true, force: true });
  }
  report('metrics', 'GET /metrics under load (npm run bench -- metrics)', rows, { results });
  process.exit(0);
}
