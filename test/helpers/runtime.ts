import type { SandboxChoice } from '../../src/sandbox/index.js';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import WebSocket from 'ws';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { createLogger } from '../../src/core/logger.js';
import { Runtime } from '../../src/runtime/index.js';
import { closeSqlite } from './db.js';
import { tempDir } from './temp.js';

export { tempDir };

export const ROOT = resolve(import.meta.dirname, '../..');
export const FIXTURES = join(ROOT, 'test/fixtures');

export interface TestRuntime {
  rt: Runtime;
  dir: string;
  /** Every terminal log line so far. */
  log: () => string;
  api: (path: string, init?: RequestInit & { token?: string | null }) => Promise<Response>;
  stop: () => Promise<void>;
}

export async function startTestRuntime(
  opts: {
    config?: Partial<Config>;
    agent?: { script: string; args?: string[] };
    env?: NodeJS.ProcessEnv;
    dir?: string;
    sandbox?: SandboxChoice;
    /** The agent's working folder (the clone's root unless told). */
    cwd?: string;
  } = {},
): Promise<TestRuntime> {
  const own = opts.dir ? null : tempDir();
  const dir = opts.dir ?? own!.dir;
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const config: Config = {
    ...DEFAULTS,
    port: 0,
    db: join(dir, 'iron_state.db'),
    restart: { ...DEFAULTS.restart, backoffMs: 200, maxBackoffMs: 1000 },
    gracePeriodMs: 3000,
    ...opts.config,
  };
  const logger = createLogger({ format: 'pretty', level: 'debug', stream: out, color: false });
  const rt = await Runtime.start({
    config,
    logger,
    agent: opts.agent ? { script: opts.agent.script, args: opts.agent.args ?? [] } : undefined,
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd ?? ROOT,
    sandbox: opts.sandbox,
  });
  return {
    rt,
    dir,
    log: () => text,
    api: (path, init = {}) => {
      const { token = rt.adminToken, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token) headers.set('authorization', `Bearer ${token}`);
      return fetch(`${rt.url}${path}`, { ...rest, headers });
    },
    stop: async () => {
      await rt.shutdown('test finished');
      closeSqlite(config.db);
      own?.cleanup();
    },
  };
}

/** An agent token minted through the API, as an admin would: its own agent id and budget. */
export interface AgentToken {
  token: string;
  agentId: string;
}

/**
 * Mint an agent token on `t` (POST /api/tokens). A budget of $5 and a fresh name unless told;
 * `budgetUsd: null` means no budget.
 *
 * @example
 * const a = await agentToken(t, { budgetUsd: 0.01 });
 * await fetch(`${t.rt.url}/v1/chat/completions`, { headers: { authorization: `Bearer ${a.token}` }, ... });
 */
export async function agentToken(t: TestRuntime, o: { name?: string; budgetUsd?: number | null } = {}): Promise<AgentToken> {
  const name = o.name ?? `agent-${Math.random().toString(36).slice(2, 8)}`;
  const budgetUsd = 'budgetUsd' in o ? o.budgetUsd : 5;
  const r = await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name, budgetUsd }) });
  if (r.status !== 201) throw new Error(`POST /api/tokens answered ${r.status}: ${await r.text()}`);
  const { token, agentId } = (await r.json()) as AgentToken;
  return { token, agentId };
}

/** A WebSocket client that collects every message; `waitFor` resolves on the first match. */
export class WsProbe {
  readonly messages: any[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  private waiters: Array<{ pred: (m: any) => boolean; resolve: (m: any) => void }> = [];

  constructor(url: string, headers?: Record<string, string>) {
    this.ws = new WebSocket(url, { headers });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
    this.ws.on('message', (raw) => {
      const m = JSON.parse(String(raw));
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
    });
  }

  /** Every event received, in order, flattening batched frames and snapshots. */
  events(): any[] {
    return this.messages.flatMap((m) => (m.type === 'snapshot' ? m.events : m.type === 'event' ? [m.event] : m.type === 'events' ? m.items.map((i: any) => i.event) : []));
  }

  /** Agent status objects as they arrived. */
  agentStates(): any[] {
    return this.messages.flatMap((m) =>
      m.type === 'snapshot' ? m.agents : m.type === 'event' ? (m.agent ? [m.agent] : []) : m.type === 'events' ? m.items.filter((i: any) => i.agent).map((i: any) => i.agent) : [],
    );
  }

  waitForEvent(pred: (e: any) => boolean, timeoutMs = 15_000): Promise<any> {
    const found = this.events().find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a WebSocket event')), timeoutMs);
      this.waiters.push({
        pred: () => this.events().some(pred),
        resolve: () => {
          clearTimeout(timer);
          resolve(this.events().find(pred));
        },
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

/** Whether process `pid` is running: there, and not a zombie (dead, only not yet reaped). */
export function processRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export async function until<T>(fn: () => T | Promise<T>, timeoutMs = 15_000, stepMs = 50): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * A dashboard session on the iron-cage at `url` serving `db`, the way a person gets one when
 * the log has no link (`--log-format json`): `iron-cage dashboard` prints a one-time link, and
 * POST /api/session exchanges it, as the page does.
 *
 * @example
 *   const token = await dashboardSession(db, 'http://127.0.0.1:40123');
 */
export async function dashboardSession(db: string, url: string): Promise<string> {
  // The command runs in this process (what it prints is test/integration/cli.test.ts's subject): a
  // Node start less for each session, and no synchronous spawn freezing the worker meanwhile.
  // (Imported here: cli.ts reads this module's ROOT as it loads.) Every caller's server runs in a
  // process of its own, so no agent this process supervises shares the state file it opens.
  const { cliInProcess } = await import('./cli.js');
  const r0 = await cliInProcess(['dashboard', '--db', db, '--port', new URL(url).port, '--json']);
  if (r0.code !== 0) throw new Error(`iron-cage dashboard exited ${r0.code}: ${r0.stderr}`);
  const link = decodeURIComponent(/#login=(.+)$/.exec((JSON.parse(r0.stdout) as { url: string }).url)![1]!);
  const r = await fetch(`${url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ link }) });
  if (r.status !== 201) throw new Error(`POST /api/session answered ${r.status}: ${await r.text()}`);
  return ((await r.json()) as { token: string }).token;
}
