import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LeaseAsk } from '../../src/report/index.js';
import { bodyOf } from '../helpers/http.js';

/** How the fake answers lease calls. */
export type LeaseMode = 'ok' | 'hang' | 'drop' | { status: number; retryAfter?: string };

interface Budget {
  scope: 'agent' | 'user' | 'team' | 'fleet';
  period: 'none' | 'day' | 'month';
  window: number;
  covers: 'all' | string[];
  limit: number;
}

interface Row {
  granted: number;
  used: number;
  held: number;
  waiting: number;
  need: number;
  rate: number;
}

/**
 * The control panel's `POST /api/leases` as the contract (notes: central-budgets-contract.md)
 * states it, in a few lines and in memory: grants within the budget's unleased headroom (Σ over
 * runtimes of max(granted, used) never passes the limit), gives back when asked for less, answers
 * every budget covering the runtime with its figures. Other runtimes are rows a test sets
 * (`others`), holding part of the budget. It records every call and every rule a runtime broke
 * (`problems`: it said it had used and held more than it was granted). Real HTTP on loopback;
 * `/api/telemetry` is not served (404).
 */
export class LeasePanel {
  readonly runtime = 'rt-test';
  readonly token = 'ic_rt_test_token_0123456789';
  readonly budgets = new Map<string, Budget>();
  /** Per `budget@window`, per runtime. */
  readonly rows = new Map<string, Map<string, Row>>();
  readonly calls: Array<{ at: number; asks: LeaseAsk[]; status: number; order?: { incarnation: number; seq: number }; stale?: boolean }> = [];
  readonly problems: string[] = [];
  /** This runtime's grant after each call it made (of the first budget it asked about). */
  readonly grants: number[] = [];
  mode: LeaseMode = 'ok';
  ttlMs = 30_000;
  renewInMs = 300;
  contended = false;
  /** Answer the next call stale, as having applied this call of the runtime (nothing of it is applied; its grants read 1). */
  staleNext: { incarnation: number; seq: number } | null = null;
  port = 0;
  private server: Server | null = null;
  private readonly held: ServerResponse[] = [];

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A budget covering this runtime (`covers`: 'all', or agent names). */
  set(id: string, b: Partial<Budget> & { limit: number }): void {
    this.budgets.set(id, { scope: 'team', period: 'none', window: 0, covers: 'all', ...b });
  }

  /** Another runtime's lease on a budget: it holds `granted` (of which it used `used`). */
  other(id: string, granted: number, used = 0): void {
    const b = this.budgets.get(id)!;
    this.rowsOf(`${id}@${b.window}`).set('rt-other', { granted, used, held: 0, waiting: 0, need: 0, rate: 0 });
  }

  /** This runtime's row on a budget (what it was granted, what it said). */
  mine(id: string): Row | undefined {
    const b = this.budgets.get(id);
    return b ? this.rows.get(`${id}@${b.window}`)?.get(this.runtime) : undefined;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    for (const r of this.held.splice(0)) r.destroy();
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private rowsOf(key: string): Map<string, Row> {
    let m = this.rows.get(key);
    if (!m) this.rows.set(key, (m = new Map()));
    return m;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, value: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));
    };
    if (req.url !== '/api/leases' || req.method !== 'POST') return reply(404, { error: { code: 'not_found', message: 'no such route' } });
    if (req.headers.authorization !== `Bearer ${this.token}`) return reply(401, { error: { code: 'unauthorized', message: 'bad token' } });
    const text = await bodyOf(req);
    const body = JSON.parse(text) as { budgets: LeaseAsk[]; incarnation?: number; seq?: number };
    const asks = body.budgets;
    const order = body.incarnation === undefined || body.seq === undefined ? {} : { order: { incarnation: body.incarnation, seq: body.seq } };
    const mode = this.mode;
    if (mode === 'hang') {
      this.held.push(res);
      this.calls.push({ at: Date.now(), asks, status: 0, ...order });
      return;
    }
    if (mode === 'drop') {
      this.calls.push({ at: Date.now(), asks, status: 0, ...order });
      res.destroy();
      return;
    }
    if (mode !== 'ok') {
      this.calls.push({ at: Date.now(), asks, status: mode.status, ...order });
      return reply(mode.status, { error: { code: 'unavailable', message: 'PostgreSQL is away' } }, mode.retryAfter ? { 'retry-after': mode.retryAfter } : {});
    }
    const applied = this.staleNext;
    if (applied) {
      this.staleNext = null;
      this.calls.push({ at: Date.now(), asks, status: 200, ...order, stale: true });
      const now = Date.now();
      const budgets = [...this.budgets].map(([id, b]) => ({ budget: id, ...b, granted: 1, expiresAt: now + this.ttlMs, spent: 0, leased: 0, unleased: 0, left: 0, contended: false, state: 'ok' }));
      return reply(200, { now, renewInMs: this.renewInMs, stale: true, applied, budgets });
    }
    this.calls.push({ at: Date.now(), asks, status: 200, ...order });
    for (const a of asks) {
      const b = this.budgets.get(a.budget);
      if (!b || b.window !== a.window) continue;
      const rows = this.rowsOf(`${a.budget}@${a.window}`);
      const r = rows.get(this.runtime) ?? { granted: 0, used: 0, held: 0, waiting: 0, need: 0, rate: 0 };
      rows.set(this.runtime, r);
      if (a.used + a.held > r.granted) this.problems.push(`${a.budget}: used ${a.used} + held ${a.held} > granted ${r.granted}`);
      Object.assign(r, { used: a.used, held: a.held, waiting: a.waiting, need: a.need, rate: a.rate });
      const committed = [...rows.values()].reduce((s, x) => s + Math.max(x.granted, x.used), 0);
      const unleased = b.limit - committed;
      if (a.want > r.granted) r.granted += Math.max(0, Math.min(a.want - r.granted, unleased));
      else if (a.want < r.granted) r.granted = Math.max(a.want, a.used + a.held);
      if (a === asks[0]) this.grants.push(r.granted);
    }
    const now = Date.now();
    const budgets = [...this.budgets].map(([id, b]) => {
      const rows = this.rowsOf(`${id}@${b.window}`);
      const r = rows.get(this.runtime) ?? { granted: 0, used: 0 };
      const all = [...rows.values()];
      const spent = all.reduce((s, x) => s + x.used, 0);
      const committed = all.reduce((s, x) => s + Math.max(x.granted, x.used), 0);
      return {
        budget: id,
        scope: b.scope,
        period: b.period,
        window: b.window,
        covers: b.covers,
        limit: b.limit,
        granted: r.granted,
        expiresAt: now + this.ttlMs,
        spent,
        leased: all.reduce((s, x) => s + Math.max(0, x.granted - x.used), 0),
        unleased: b.limit - committed,
        left: b.limit - spent,
        contended: this.contended,
        state: spent >= b.limit ? 'exhausted' : spent >= b.limit * 0.9 ? 'warning' : 'ok',
      };
    });
    reply(200, { now, renewInMs: this.renewInMs, budgets });
  }
}
