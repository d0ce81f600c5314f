// Gateway overhead: a closed-loop load on loopback against a local mock upstream, direct and
// through `iron-cage serve` (a separate process, so its CPU and RSS are its own), with budget,
// persistence and PII redaction on, and side by side with Portkey's open-source gateway (when
// installed) against the same upstream in the same run. Per-response timing with process.hrtime.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { budgetUse, budgetUseRows } from './budget-use.js';
import { compareBuilds } from './gateway/ab.js';
import { load, REQUEST, RESP_REQUEST, RESP_STREAM_REQUEST, serveMock, startGateway, startMock, STREAM_REQUEST } from './gateway/load.js';
import { cpuMs, fmt, idleRssMb, median, percentile, portkeyEntry, portkeyHeaders, report, rssMb, startPortkey, type Row } from './lib.js';

/** Alternating runs per protocol when /v1/responses is set beside chat. */
const ROUNDS = 5;

/**
 * The yardstick docs/benchmarks.md quotes: a bare proxy (undici, no checks at all) on loopback, in its
 * own process like the gateway, so its CPU per request can be set beside the gateway's.
 */
async function startBare(upstream: string): Promise<{ url: string; pid: number; close: () => void }> {
  const child = fork(process.argv[1]!, ['bare', upstream], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve) => child.once('message', (m) => resolve(String(m))));
  return { url, pid: child.pid!, close: () => child.kill() };
}

async function serveBare(upstream: string): Promise<void> {
  const pool = new Pool(upstream, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 });
  const server = createServer(async (req, res) => {
    const r = await pool.request({ path: req.url!, method: 'POST', headers: { 'content-type': 'application/json' }, body: req });
    res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type']) });
    r.body.pipe(res);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.send!(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
}

/** Rounds of the side-by-side comparison; the order of the two gateways alternates between rounds. */
const VS_ROUNDS = 5;

/**
 * iron-cage beside Portkey's open-source gateway, both in front of the same mock upstream, run
 * after each other in every round so a machine busy with something else slows both alike.
 */
async function versusPortkey(upstream: string, gw: { child: ChildProcess; origin: string; token: string }, rows: Row[], results: Record<string, unknown>): Promise<void> {
  const entry = portkeyEntry();
  if (!entry) {
    rows.push({ metric: 'Portkey OSS gateway, side by side', value: 'Portkey not installed (devDependency @portkey-ai/gateway, or PORTKEY_GATEWAY_DIR)' });
    return;
  }
  const pk = await startPortkey(entry);
  const pkIdle = await idleRssMb(pk.pid);
  try {
    const path = '/v1/chat/completions';
    const sides = {
      'iron-cage': { pid: gw.child.pid!, run: (body: string, c: number, total: number, stream: boolean) => load(gw.origin, path, gw.token, body, c, total, stream) },
      portkey: { pid: pk.pid, run: (body: string, c: number, total: number, stream: boolean) => load(pk.origin, path, 'sk-bench', body, c, total, stream, portkeyHeaders(upstream)) },
    };
    // Portkey warmed as iron-cage was (JIT, connection pools).
    await sides.portkey.run(REQUEST, 4, 1500, false);
    await sides['iron-cage'].run(REQUEST, 16, 3000, false);
    type Side = keyof typeof sides;
    const per = { 'iron-cage': { rps: [] as number[], cpu: [] as number[], added: [] as number[] }, portkey: { rps: [] as number[], cpu: [] as number[], added: [] as number[] } };
    const ratios = { rps: [] as number[], added: [] as number[] };
    for (let round = 0; round < VS_ROUNDS; round++) {
      const order: Side[] = round % 2 === 0 ? ['iron-cage', 'portkey'] : ['portkey', 'iron-cage'];
      for (const side of order) {
        const cpu0 = cpuMs(sides[side].pid);
        const r = await sides[side].run(REQUEST, 16, side === 'portkey' ? 2000 : 6000, false);
        per[side].rps.push(r.n / r.seconds);
        per[side].cpu.push((cpuMs(sides[side].pid) - cpu0) / r.n);
      }
      const direct = percentile((await load(upstream, path, 'x', REQUEST, 1, 1000, false)).latencies, 50);
      for (const side of order) per[side].added.push(percentile((await sides[side].run(REQUEST, 1, 1000, false)).latencies, 50) - direct);
      ratios.rps.push(per['iron-cage'].rps[round]! / per.portkey.rps[round]!);
      ratios.added.push(per['iron-cage'].added[round]! / per.portkey.added[round]!);
    }
    // Each side's least disturbed round (highest req/s, lowest CPU and added latency), as the
    // Responses comparison below does; the ratios within each round are listed beside.
    const best = (side: Side, k: 'rps' | 'cpu' | 'added') => (k === 'rps' ? Math.max : Math.min)(...per[side][k]);
    const rounds = (xs: number[], d: number) => xs.map((x) => fmt(x, d)).join(', ');
    const rpsRatio = best('iron-cage', 'rps') / best('portkey', 'rps');
    const addedRatio = best('iron-cage', 'added') / best('portkey', 'added');
    rows.push({
      metric: 'vs Portkey: json c=16 req/s, iron-cage / Portkey',
      value: `${fmt(best('iron-cage', 'rps'), 0)} / ${fmt(best('portkey', 'rps'), 0)}: ${fmt(rpsRatio, 1)}× (per round ${rounds(ratios.rps, 1)}, median ${fmt(median(ratios.rps), 1)})`,
      target: '≥ 4×',
      ok: rpsRatio >= 4,
    });
    rows.push({ metric: 'vs Portkey: json c=16 CPU per request, iron-cage / Portkey', value: `${fmt(best('iron-cage', 'cpu'), 3)} / ${fmt(best('portkey', 'cpu'), 3)} ms` });
    rows.push({
      metric: 'vs Portkey: json c=1 added latency p50, iron-cage / Portkey',
      value: `${fmt(best('iron-cage', 'added'), 3)} / ${fmt(best('portkey', 'added'), 3)} ms: ${fmt(addedRatio, 2)} (per round ${rounds(ratios.added, 2)}, median ${fmt(median(ratios.added), 2)})`,
      target: '≤ 0.33',
      ok: addedRatio <= 0.33,
    });
    // First chunk at c=1: Portkey's streaming may fail (its node server against the installed
    // @hono/node-server); that is reported, not fatal.
    const direct = percentile((await load(upstream, path, 'x', STREAM_REQUEST, 1, 300, true)).firstChunk, 50);
    const first: Record<string, string> = {};
    for (const side of ['iron-cage', 'portkey'] as Side[]) {
      try {
        first[side] = `${fmt(percentile((await sides[side].run(STREAM_REQUEST, 1, 300, true)).firstChunk, 50) - direct, 3)} ms`;
      } catch (e) {
        first[side] = `failed (${String((e as Error).message).slice(0, 80)})`;
      }
    }
    rows.push({ metric: 'vs Portkey: stream c=1 first chunk delay added p50, iron-cage / Portkey', value: `${first['iron-cage']} / ${first.portkey}` });
    // Peak RSS: each process's high-water mark so far; both served the same rounds above.
    const peak = { 'iron-cage': rssMb(gw.child.pid!).peak, portkey: rssMb(pk.pid).peak };
    rows.push({ metric: 'vs Portkey: idle RSS after start, Portkey', value: `${fmt(pkIdle, 0)} MB` });
    rows.push({ metric: 'vs Portkey: peak RSS, iron-cage / Portkey', value: `${fmt(peak['iron-cage'], 0)} / ${fmt(peak.portkey, 0)} MB`, target: '≤ Portkey', ok: peak['iron-cage'] <= peak.portkey });
    results['vs portkey rss'] = { idlePortkey: pkIdle, peak };
    results['vs portkey'] = { rounds: VS_ROUNDS, per, ratios, firstChunk: first };
  } finally {
    pk.close();
  }
}

/** Rounds of the gateway beside the bare proxy; the order of the two alternates between rounds. */
const BARE_ROUNDS = 5;

/**
 * iron-cage (every guarantee on: the row on disk before the answer, exact prompt counts, PII)
 * beside the bare proxy in front of the same mock, in the same rounds: JSON added latency p50 at
 * c=1 (goal: at most twice the bare proxy's) and CPU per 20-chunk stream at c=16. Each round
 * measures the upstream direct, then both sides; the ratio is taken within each round, so a
 * machine busy with something else weighs on both alike.
 */
async function versusBare(
  upstream: string,
  gw: { child: ChildProcess; origin: string; token: string },
  bare: { url: string; pid: number },
  rows: Row[],
  results: Record<string, unknown>,
): Promise<void> {
  const path = '/v1/chat/completions';
  const sides = {
    gateway: { pid: gw.child.pid!, run: (body: string, c: number, n: number, stream: boolean, at = path) => load(gw.origin, at, gw.token, body, c, n, stream) },
    bare: { pid: bare.pid, run: (body: string, c: number, n: number, stream: boolean, at = path) => load(bare.url, at, 'x', body, c, n, stream) },
  };
  type Side = keyof typeof sides;
  await sides.bare.run(REQUEST, 4, 1000, false);
  await sides.bare.run(STREAM_REQUEST, 4, 300, true);
  await sides.bare.run(RESP_STREAM_REQUEST, 4, 300, true, '/v1/responses');
  await sides.gateway.run(RESP_STREAM_REQUEST, 4, 300, true, '/v1/responses');
  const fresh = () => ({ added: [] as number[], cpu: [] as number[], streamCpu: [] as number[], respStreamCpu: [] as number[] });
  const per = { gateway: fresh(), bare: fresh() };
  const ratios = { added: [] as number[], streamCpu: [] as number[] };
  /** Each side's Responses stream over its chat stream, round by round: the wire's own price is the bare proxy's. */
  const respOverChat = (side: Side) => per[side].respStreamCpu.map((x, i) => x / per[side].streamCpu[i]! - 1);
  for (let round = 0; round < BARE_ROUNDS; round++) {
    const order: Side[] = round % 2 === 0 ? ['gateway', 'bare'] : ['bare', 'gateway'];
    const direct = percentile((await load(upstream, path, 'x', REQUEST, 1, 1000, false)).latencies, 50);
    for (const side of order) {
      const cpu0 = cpuMs(sides[side].pid);
      const r = await sides[side].run(REQUEST, 1, 1000, false);
      per[side].cpu.push((cpuMs(sides[side].pid) - cpu0) / r.n);
      per[side].added.push(percentile(r.latencies, 50) - direct);
    }
    // Chat and Responses (stored, the API's default) streams of the same 20 words, in this
    // round's order on both sides.
    const kinds = [
      { body: STREAM_REQUEST, at: path, into: 'streamCpu' as const },
      { body: RESP_STREAM_REQUEST, at: '/v1/responses', into: 'respStreamCpu' as const },
    ];
    for (const side of order) {
      for (const k of round % 2 === 0 ? kinds : [...kinds].reverse()) {
        const cpu0 = cpuMs(sides[side].pid);
        const r = await sides[side].run(k.body, 16, 2000, true, k.at);
        per[side][k.into].push((cpuMs(sides[side].pid) - cpu0) / r.n);
      }
    }
    ratios.added.push(per.gateway.added[round]! / per.bare.added[round]!);
    ratios.streamCpu.push(per.gateway.streamCpu[round]! / per.bare.streamCpu[round]!);
  }
  const least = (xs: number[]) => Math.min(...xs);
  const list = (xs: number[], d: number) => xs.map((x) => fmt(x, d)).join(', ');
  const addedRatio = median(ratios.added);
  rows.push({
    metric: 'json c=1 added latency p50, iron-cage / bare undici proxy (same rounds)',
    value: `${fmt(least(per.gateway.added), 3)} / ${fmt(least(per.bare.added), 3)} ms: median ratio ${fmt(addedRatio, 2)}× (per round ${list(ratios.added, 2)})`,
    target: '≤ 2×',
    ok: addedRatio <= 2,
  });
  rows.push({ metric: 'json c=1 CPU per request, iron-cage / bare undici proxy', value: `${fmt(least(per.gateway.cpu), 3)} / ${fmt(least(per.bare.cpu), 3)} ms` });
  rows.push({
    metric: 'stream c=16 CPU per 20-chunk response, iron-cage / bare undici proxy (same rounds)',
    value: `${fmt(least(per.gateway.streamCpu), 3)} / ${fmt(least(per.bare.streamCpu), 3)} ms: median ratio ${fmt(median(ratios.streamCpu), 2)}× (per round ${list(ratios.streamCpu, 2)})`,
  });
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${fmt(x * 100, 0)}%`;
  const [ours, wire] = [respOverChat('gateway'), respOverChat('bare')];
  rows.push({
    metric: '/v1/responses stream c=16 CPU over chat, iron-cage / bare undici proxy (same rounds)',
    value: `${pct(median(ours))} / ${pct(median(wire))}, medians of rounds (iron-cage ${ours.map(pct).join(', ')}; bare ${wire.map(pct).join(', ')})`,
    target: 'iron-cage ≤ +10%',
    ok: median(ours) <= 0.1,
  });
  results['vs bare proxy'] = { rounds: BARE_ROUNDS, per, ratios, responsesOverChat: { gateway: ours, bare: wire } };
}

if (process.argv[2] === 'mock') {
  await serveMock();
} else if (process.argv[2] === 'bare') {
  await serveBare(process.argv[3]!);
} else if (process.env.BENCH_AB) {
  // BENCH_AB=<build>,<build>…: the same load through several builds, pinned (gateway/ab.ts).
  const rounds = Number(process.env.BENCH_AB_ROUNDS ?? 5);
  if (!Number.isSafeInteger(rounds) || rounds < 1) throw new Error(`BENCH_AB_ROUNDS=${process.env.BENCH_AB_ROUNDS}: a positive integer, please`);
  const { rows, results } = await compareBuilds(process.env.BENCH_AB, process.env.BENCH_AB_KINDS ?? 'json16,json1,stream16,resp16,respnf16', rounds);
  report('gateway-ab', 'LLM gateway, builds side by side (BENCH_AB=… npm run bench -- gateway)', rows, results);
  process.exit(0);
} else {
  await main();
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'iron-gw-bench-'));
  const mock = await startMock();
  const gw = await startGateway(dir, mock.url);
  const idle = await idleRssMb(gw.child.pid!);
  let bare: Awaited<ReturnType<typeof startBare>> | null = null;
  const rows: Row[] = [];
  const results: Record<string, unknown> = { idleRssMb: idle };
  rows.push({ metric: 'iron-cage serve idle RSS (3 s after start, before any call)', value: `${fmt(idle, 0)} MB`, target: '< 80 MB', ok: idle < 80 });
  try {
    // Warm both paths (JIT, connection pools, tokenizer tables).
    await load(mock.url, '/v1/chat/completions', 'x', REQUEST, 4, 500, false);
    await load(gw.origin, '/v1/chat/completions', gw.token, REQUEST, 4, 1500, false);
    await load(gw.origin, '/v1/chat/completions', gw.token, STREAM_REQUEST, 4, 300, true);

    if (process.env.BENCH_PORTKEY !== 'no') await versusPortkey(mock.url, gw, rows, results);

    /** One load direct and through the gateway: what the gateway added, and its CPU per request. */
    const measure = async (path: string, body: string, c: number, total: number, stream: boolean) => {
      const direct = await load(mock.url, path, 'x', body, c, total, stream);
      const cpu0 = cpuMs(gw.child.pid!);
      const via = await load(gw.origin, path, gw.token, body, c, total, stream);
      const cpuPerReq = (cpuMs(gw.child.pid!) - cpu0) / via.n;
      const added50 = percentile(via.latencies, 50) - percentile(direct.latencies, 50);
      const added99 = percentile(via.latencies, 99) - percentile(direct.latencies, 99);
      return { direct, via, cpuPerReq, added50, added99, rps: via.n / via.seconds };
    };
    const streams = process.env.BENCH_STREAM === 'only' ? [true] : process.env.BENCH_STREAM === 'no' ? [false] : [false, true];
    const concurrencies = (process.env.BENCH_C ?? '1,16,64').split(',').map(Number);
    const totalFor = (stream: boolean, c: number) => (stream ? (c === 1 ? 1500 : 6000) : c === 1 ? 3000 : 30_000);

    for (const stream of streams) {
      for (const c of concurrencies) {
        const { direct, via, cpuPerReq, added50, added99, rps } = await measure('/v1/chat/completions', stream ? STREAM_REQUEST : REQUEST, c, totalFor(stream, c), stream);
        const label = `${stream ? 'stream' : 'json'} c=${c}`;
        results[label] = {
          direct: { rps: direct.n / direct.seconds, p50: percentile(direct.latencies, 50), p99: percentile(direct.latencies, 99) },
          gateway: { rps, p50: percentile(via.latencies, 50), p99: percentile(via.latencies, 99), n: via.n },
          cpuPerReq,
        };
        rows.push({
          metric: `${label}: req/s via gateway (direct)`,
          value: `${fmt(rps, 0)} (${fmt(direct.n / direct.seconds, 0)})`,
          ...(!stream && c > 1 ? { target: '≥ 5,000', ok: rps >= 5000 } : {}),
        });
        rows.push({
          metric: `${label}: added latency p50 / p99`,
          value: `${fmt(added50, 3)} / ${fmt(added99, 3)} ms`,
          ...(c === 1 && !stream ? { target: 'p50 ≤ 0.25 ms', ok: added50 <= 0.25 } : {}),
        });
        const cpuGoal = stream ? 0.25 : 0.2;
        rows.push({ metric: `${label}: gateway CPU per ${stream ? '20-chunk response' : 'request'}`, value: `${fmt(cpuPerReq, 3)} ms`, target: `≤ ${cpuGoal} ms`, ok: cpuPerReq <= cpuGoal });
        if (stream) {
          const addedFirst = percentile(via.firstChunk, 50) - percentile(direct.firstChunk, 50);
          rows.push({ metric: `${label}: first chunk delay added, p50`, value: `${fmt(addedFirst, 3)} ms`, target: '≤ 1 ms', ok: addedFirst <= 1 });
        }
      }
    }
    // The Responses API beside chat: the same exchange, its cost within 10% of chat's. Runs
    // alternate (chat, responses, chat, ...) and the least disturbed (the minimum) of each is
    // compared, so a load that comes and goes on a shared machine falls on both alike.
    await load(gw.origin, '/v1/responses', gw.token, RESP_REQUEST, 4, 1500, false);
    await load(gw.origin, '/v1/responses', gw.token, RESP_STREAM_REQUEST, 4, 300, true);
    const least = (xs: number[]) => Math.min(...xs);
    for (const stream of streams) {
      for (const c of concurrencies.filter((x) => x <= 16)) {
        type Run = Awaited<ReturnType<typeof measure>>;
        const runs = { chat: [] as Run[], responses: [] as Run[], unstored: [] as Run[] };
        const total = Math.ceil(totalFor(stream, c) / 3);
        // The same turn with `store: false`: what keeping it (sealed, its rows) costs, apart.
        const unstoredBody = JSON.stringify({ ...JSON.parse(stream ? RESP_STREAM_REQUEST : RESP_REQUEST), store: false });
        for (let round = 0; round < ROUNDS; round++) {
          runs.chat.push(await measure('/v1/chat/completions', stream ? STREAM_REQUEST : REQUEST, c, total, stream));
          runs.responses.push(await measure('/v1/responses', stream ? RESP_STREAM_REQUEST : RESP_REQUEST, c, total, stream));
          runs.unstored.push(await measure('/v1/responses', unstoredBody, c, total, stream));
        }
        /** Each round's CPU over chat's in the same round: median and the rounds, as "+x% (rounds a, b, …)". */
        const perRound = (rs: Run[]) => {
          const r = rs.map((x, i) => x.cpuPerReq / runs.chat[i]!.cpuPerReq - 1);
          const pct = (x: number) => `${x >= 0 ? '+' : ''}${fmt(x * 100, 0)}%`;
          return `median of rounds ${pct(median(r))} (${r.map(pct).join(', ')})`;
        };
        const [chat, resp, unstored] = [runs.chat, runs.responses, runs.unstored].map((rs) => ({
          cpuPerReq: least(rs.map((r) => r.cpuPerReq)),
          added50: least(rs.map((r) => r.added50)),
          added99: least(rs.map((r) => r.added99)),
        }));
        const label = `${stream ? 'stream' : 'json'} c=${c}`;
        results[`responses ${label}`] = { responses: resp, unstored, chat, rounds: ROUNDS };
        const ratio = resp!.cpuPerReq / chat!.cpuPerReq;
        rows.push({
          metric: `/v1/responses ${label}: added latency p50 / p99 (chat)`,
          value: `${fmt(resp!.added50, 3)} / ${fmt(resp!.added99, 3)} ms (${fmt(chat!.added50, 3)} / ${fmt(chat!.added99, 3)} ms)`,
        });
        rows.push({
          metric: `/v1/responses ${label}: CPU per request (chat)`,
          value: `${fmt(resp!.cpuPerReq, 3)} ms (${fmt(chat!.cpuPerReq, 3)} ms, ${ratio >= 1 ? '+' : ''}${fmt((ratio - 1) * 100, 0)}%; ${perRound(runs.responses)})`,
          target: '≤ chat + 10%',
          ok: ratio <= 1.1,
        });
        rows.push({
          metric: `/v1/responses ${label}, store: false: CPU per request (chat)`,
          value: `${fmt(unstored!.cpuPerReq, 3)} ms (${fmt(chat!.cpuPerReq, 3)} ms; ${perRound(runs.unstored)})`,
        });
      }
    }

    // The bare proxy: what any Node proxy costs on this machine. Started only now, so it shares
    // nothing with the gateway's runs above; then both side by side, rounds alternating.
    bare = await startBare(mock.url);
    await versusBare(mock.url, gw, bare, rows, results);
    rows.push({ metric: 'gateway peak RSS, whole benchmark', value: `${fmt(rssMb(gw.child.pid!).peak, 0)} MB` });
  } finally {
    gw.child.kill('SIGTERM');
    await new Promise((r) => gw.child.once('exit', r));
    bare?.close();
    mock.close();
    rmSync(dir, { recursive: true, force: true });
  }
  // Budget use under concurrency (budget-use.ts): its own gateway, after this one stopped.
  const use = await budgetUse();
  rows.push(...budgetUseRows(use));
  report('gateway', 'LLM gateway overhead (npm run bench -- gateway)', rows, { results, budgetUse: use });
  process.exit(0);
}
