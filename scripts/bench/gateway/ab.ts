// `BENCH_AB=<build>,<build>[,…] npm run bench -- gateway` (BENCH_AB_ROUNDS, default 5; BENCH_AB_KINDS,
// default all of KINDS below): the same load through several builds
// of iron-cage, to tell a change from the noise. Each build is a checkout (or its
// bin/iron-cage.js) that `npm run build` has built; the first is the one the others are compared
// with. Every gateway runs on the machine's last core alone and the mock upstream and the load
// on the others (taskset): on a 2-core machine where all share both cores, the rounds of one
// build swung by 20% and once made a commit look 1.3× slower that pinned rounds found equal
// (docs/benchmarks-history.md, fourth round). The builds take turns within each round, in an order that
// reverses every round; what is compared is each round's ratio to the first build, CPU per call
// read from /proc (every thread of the gateway).
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coresApart, cpuMs, fmt, median, pin, type Row } from '../lib.js';
import { load, REQUEST, RESP_REQUEST, RESP_STREAM_REQUEST, RESP_STREAM_UNSTORED, startGateway, startMock, STREAM_REQUEST } from './load.js';

interface Kind {
  path: string;
  body: string;
  c: number;
  n: number;
  stream: boolean;
  what: string;
  /** The body as this gateway must get it (a turn that continues one kept there first), when not `body`. */
  bodyFor?: (origin: string, token: string) => Promise<string>;
}

/** A stored turn continued: `previous_response_id` names a first turn kept by this gateway (a chain of one). */
async function continuing(origin: string, token: string): Promise<string> {
  const r = await fetch(`${origin}/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: RESP_REQUEST });
  if (!r.ok) throw new Error(`the first turn: HTTP ${r.status}: ${await r.text()}`);
  const { id } = (await r.json()) as { id: string };
  return JSON.stringify({ ...JSON.parse(RESP_STREAM_REQUEST), previous_response_id: id });
}

const KINDS: Record<string, Kind> = {
  json16: { path: '/v1/chat/completions', body: REQUEST, c: 16, n: 6000, stream: false, what: 'JSON chat, 16 connections' },
  json1: { path: '/v1/chat/completions', body: REQUEST, c: 1, n: 2000, stream: false, what: 'JSON chat, 1 connection' },
  stream16: { path: '/v1/chat/completions', body: STREAM_REQUEST, c: 16, n: 2000, stream: true, what: 'chat stream (20 chunks), 16 connections' },
  resp16: { path: '/v1/responses', body: RESP_STREAM_REQUEST, c: 16, n: 2000, stream: true, what: 'Responses stream, stored, 16 connections' },
  respnf16: { path: '/v1/responses', body: RESP_STREAM_UNSTORED, c: 16, n: 2000, stream: true, what: 'Responses stream, store: false, 16 connections' },
  respcont16: { path: '/v1/responses', body: '', c: 16, n: 2000, stream: true, what: 'Responses stream, stored, continuing a stored turn, 16 connections', bodyFor: continuing },
};

/** A build's bin: `<checkout>` or `<checkout>/bin/iron-cage.js`, built. */
function binOf(build: string): string {
  const bin = existsSync(build) && statSync(build).isDirectory() ? join(build, 'bin', 'iron-cage.js') : build;
  if (!existsSync(bin)) throw new Error(`BENCH_AB: ${build}: no such build (a checkout, or its bin/iron-cage.js)`);
  if (!existsSync(join(bin, '..', '..', 'dist', 'cli.js'))) throw new Error(`BENCH_AB: ${build} is not built (run npm run build in it)`);
  return bin;
}

export async function compareBuilds(spec: string, kindsSpec: string, rounds: number): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  const builds = spec.split(',').filter(Boolean);
  if (builds.length < 2) throw new Error('BENCH_AB: name at least two builds, comma-separated');
  const bins = builds.map(binOf);
  const kinds = kindsSpec.split(',').filter(Boolean);
  for (const k of kinds) if (!KINDS[k]) throw new Error(`BENCH_AB_KINDS: ${k}: one of ${Object.keys(KINDS).join(', ')}`);
  const cores = coresApart('BENCH_AB');
  // This process and the mock it forks on every core but the last; each gateway on the last.
  pin(process.pid, cores.others);
  const dir = mkdtempSync(join(tmpdir(), 'iron-gw-ab-'));
  const mock = await startMock();
  const gws: Awaited<ReturnType<typeof startGateway>>[] = [];
  try {
    for (const [i, cli] of bins.entries()) {
      const own = join(dir, String(i));
      mkdirSync(own);
      gws.push(await startGateway(own, mock.url, { cli, cpu: cores.own }));
    }
    // Each gateway's body per kind (the same for all but a turn continuing one kept there).
    const bodies = await Promise.all(
      gws.map(async (g) => Object.fromEntries(await Promise.all(kinds.map(async (k) => [k, (await KINDS[k]!.bodyFor?.(g.origin, g.token)) ?? KINDS[k]!.body] as const)))),
    );
    for (const [i, g] of gws.entries()) for (const k of kinds) await load(g.origin, KINDS[k]!.path, g.token, bodies[i]![k]!, KINDS[k]!.c, 1500, KINDS[k]!.stream);
    // per kind, per build: CPU ms a call, p50 ms, calls/s; one entry a round
    const got = new Map<string, Array<{ cpu: number[]; p50: number[]; rps: number[] }>>();
    for (const k of kinds)
      got.set(
        k,
        bins.map(() => ({ cpu: [], p50: [], rps: [] })),
      );
    for (let round = 0; round < rounds; round++) {
      const order = bins.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const k of kinds) {
        const kind = KINDS[k]!;
        for (const i of order) {
          const g = gws[i]!;
          const before = cpuMs(g.child.pid!);
          const r = await load(g.origin, kind.path, g.token, bodies[i]![k]!, kind.c, kind.n, kind.stream);
          const slot = got.get(k)![i]!;
          slot.cpu.push((cpuMs(g.child.pid!) - before) / r.n);
          slot.p50.push(r.latencies[Math.floor(r.latencies.length / 2)]!);
          slot.rps.push(r.n / r.seconds);
        }
      }
    }
    const rows: Row[] = [{ metric: 'builds (the first is the base)', value: builds.map((b, i) => `${String.fromCharCode(65 + i)}: ${b}`).join('; ') }];
    rows.push({ metric: 'rounds; where it ran', value: `${rounds}; each gateway on core ${cores.own} alone, the mock and the load on the others` });
    for (const k of kinds) {
      const per = got.get(k)!;
      for (const [name, pick, digits] of [
        ['CPU per call, ms', (x: (typeof per)[number]) => x.cpu, 3],
        ['p50, ms', (x: (typeof per)[number]) => x.p50, 3],
        ['calls/s', (x: (typeof per)[number]) => x.rps, 0],
      ] as const) {
        const base = pick(per[0]!);
        const cells = per.map((x, i) => {
          const v = pick(x);
          const own = `${String.fromCharCode(65 + i)} ${fmt(median(v), digits)}`;
          if (i === 0) return own;
          const ratios = v.map((y, r) => y / base[r]!);
          return `${own} (×${fmt(median(ratios), 2)}: ${ratios.map((r) => fmt(r, 2)).join(', ')})`;
        });
        rows.push({ metric: `${kind(k)}: ${name}, median of rounds (per-round ratio to A)`, value: cells.join(' · ') });
      }
    }
    return { rows, results: { builds, rounds, kinds, runs: Object.fromEntries(got) } };
  } finally {
    // Each gateway logs as it shuts down: waited for, so it does not write to the pipe of a
    // bench that has already exited (an EPIPE stack printed after every run's table).
    const exited = gws.map((g) => (g.child.exitCode !== null || g.child.signalCode !== null ? null : new Promise((r) => g.child.once('exit', r))));
    for (const g of gws) g.child.kill('SIGTERM');
    await Promise.all(exited);
    mock.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function kind(k: string): string {
  return `${k} (${KINDS[k]!.what})`;
}
