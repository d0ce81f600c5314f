import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cli.js';

// A real Prometheus for a test: Debian's `prometheus` package (installed by .ci/run), started on
// a loopback port of its own with a temp TSDB and a generated scrape config, stopped and deleted
// after. It never uses the package's service (port 9090, /var/lib/prometheus) and downloads
// nothing.

/** The binary: PROMETHEUS_PATH, else Debian's /usr/bin/prometheus. */
export function prometheusPath(): string {
  return process.env.PROMETHEUS_PATH || '/usr/bin/prometheus';
}

const truthy = (v: string | undefined) => !!v && v !== '0' && v !== 'false';
/** Under CI (IRON_CAGE_CI=1, set by .ci/run, or a CI system's own CI=true) a missing Prometheus fails the suite: it is never skipped there. */
export const ON_CI = truthy(process.env.IRON_CAGE_CI) || truthy(process.env.CI);

/**
 * Why a Prometheus test cannot run here (the binary is absent), or null when it can. Only a
 * developer's machine may skip; on CI the absence throws, so the suite fails.
 *
 * @example
 *   const absent = prometheusAbsent();
 *   describe.skipIf(absent)('…', () => { … });
 */
export function prometheusAbsent(): string | null {
  if (existsSync(prometheusPath())) return null;
  const why = `Prometheus is not installed (${prometheusPath()}): \`apt-get install -y prometheus\` (.ci/run does it) or set PROMETHEUS_PATH`;
  if (ON_CI) throw new Error(`${why}; CI never skips this test`);
  console.warn(`skipping the real-Prometheus tests: ${why}`);
  return why;
}

export interface ScrapeTarget {
  /** The job label. */
  job: string;
  /** The server's base URL (http://127.0.0.1:PORT); /metrics is scraped. */
  url: string;
  /** Sent as `Authorization: Bearer …` (Prometheus's `authorization.credentials`). */
  token?: string;
  /**
   * A file holding the bearer token instead (`authorization.credentials_file`), read at each
   * scrape: Prometheus can start before the token exists (a missing file is a failed scrape).
   */
  tokenFile?: string;
}

/** One series of an instant vector, its value as a number. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface TestPrometheus {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The scrape config it was started with (YAML). */
  config: string;
  /** An instant query through GET /api/v1/query; throws on an error answer (a bad query). */
  query(promql: string): Promise<Sample[]>;
  /**
   * Polls `promql` until `predicate` holds (a scrape brought the value), at most `timeoutMs`;
   * returns the samples that satisfied it. A timeout names the query and the last answer.
   */
  waitFor(promql: string, predicate: (samples: Sample[]) => boolean, timeoutMs?: number): Promise<Sample[]>;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and deletes its folder. */
  stop(): Promise<void>;
}

/** The scrape config: every target every second, one job each. */
export function scrapeConfig(targets: ScrapeTarget[]): string {
  const jobs = targets.map((t) => {
    const u = new URL(t.url);
    const secret = t.token ? `credentials: ${JSON.stringify(t.token)}` : t.tokenFile ? `credentials_file: ${JSON.stringify(t.tokenFile)}` : null;
    const auth = secret ? `\n    authorization:\n      type: Bearer\n      ${secret}` : '';
    return `  - job_name: ${JSON.stringify(t.job)}\n    scheme: ${u.protocol.replace(':', '')}\n    metrics_path: /metrics${auth}\n    static_configs:\n      - targets: [${JSON.stringify(u.host)}]`;
  });
  return `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n${jobs.join('\n')}\n`;
}

/**
 * A Prometheus of its own, scraping `targets` every second, ready when this resolves (about a
 * second on a quiet machine).
 *
 * @example
 *   const prom = await startPrometheus([{ job: 'runtime', url: t.rt.url, token }]);
 *   afterAll(() => prom.stop());
 *   await prom.waitFor('sum(iron_cage_llm_calls_total)', (s) => s[0]?.value === 3);
 */
export async function startPrometheus(targets: ScrapeTarget[], o: { readyTimeoutMs?: number } = {}): Promise<TestPrometheus> {
  const bin = prometheusPath();
  if (!existsSync(bin)) throw new Error(`Prometheus is not installed (${bin}): \`apt-get install -y prometheus\` (.ci/run does it)`);
  const dir = mkdtempSync(join(tmpdir(), 'iron-prom-'));
  const config = scrapeConfig(targets);
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    bin,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.console.templates=',
      '--web.console.libraries=',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));

  const stop = async () => {
    if (!gone) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await ready(url, child, exited, () => stderr, o.readyTimeoutMs ?? 20_000);
  } catch (err) {
    await stop();
    throw err;
  }

  const query = async (promql: string): Promise<Sample[]> => {
    const r = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
    const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
    if (body.status !== 'success') throw new Error(`PromQL ${promql}: ${body.error ?? r.status}`);
    const { resultType, result } = body.data!;
    if (resultType === 'scalar') return [{ metric: {}, value: Number((result as [number, string])[1]) }];
    if (resultType !== 'vector') throw new Error(`PromQL ${promql}: a ${resultType}, not an instant vector`);
    return (result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  };

  const waitFor = async (promql: string, predicate: (s: Sample[]) => boolean, timeoutMs = 15_000): Promise<Sample[]> => {
    const end = Date.now() + timeoutMs;
    let last: Sample[] = [];
    for (;;) {
      last = await query(promql);
      if (predicate(last)) return last;
      if (Date.now() > end) throw new Error(`PromQL ${promql}: condition not met within ${timeoutMs} ms; last answer ${JSON.stringify(last)}`);
      // The scrape interval is 1 s: polling a few times per interval sees each scrape soon after it lands.
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  return { url, config, query, waitFor, stop };
}

/** Waits for GET /-/ready to answer 200, or the process to exit (its stderr in the error). */
async function ready(url: string, child: ChildProcess, exited: Promise<number | null>, stderr: () => string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  let dead = false;
  void exited.then(() => (dead = true));
  for (;;) {
    if (dead) throw new Error(`prometheus exited (${child.exitCode}) before it was ready:\n${stderr()}`);
    const ok = await fetch(`${url}/-/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    if (Date.now() > end) throw new Error(`prometheus was not ready within ${timeoutMs} ms:\n${stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Series as `{ 'label=value,…': value }` (the labels' values joined by commas), for one toEqual with a readable diff. */
export const byLabels = (samples: Sample[], ...labels: string[]): Record<string, number> => Object.fromEntries(samples.map((s) => [labels.map((l) => s.metric[l] ?? '').join(','), s.value]));

/** How often each key occurs: `countBy(['a', 'b', 'a'])` is `{ a: 2, b: 1 }`. */
export function countBy(keys: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1;
  return out;
}
