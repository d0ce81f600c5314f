import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { telemetryBatch, type TelemetryBatch, type TelemetryCursor } from '../../src/state/index.js';
import { bodyOf } from '../helpers/http.js';

/** How the receiver answers the next requests. */
export type Mode =
  | 'ok'
  /** Takes the batch, then hangs up before answering: the ack is lost. Once, then back to ok. */
  | 'lose-ack'
  /** Holds every request without answering. */
  | 'hang'
  | { status: number; retryAfter?: string; body?: string };

type Row = Record<string, unknown>;

/**
 * A control panel's ingest as the contract (src/state/telemetry.ts) describes it, in a few lines:
 * `GET /api/telemetry` says where it stands, `POST` takes batch lastSeq + 1, answers an older one
 * as a duplicate, refuses one from the future with 409, stores rows by their keys. It records
 * every request, every batch it took and every rule a runtime broke (`problems`). Real HTTP on
 * loopback; `stop()` and `start()` again on the same port make it unreachable for a while.
 */
export class Receiver {
  readonly runtime = 'rt-test';
  readonly token = 'ic_rt_test_token_0123456789';
  lastSeq = 0;
  cursor: TelemetryCursor = { eventSeq: 0, llmRequestId: 0, toolCallId: 0 };
  /** The batches taken, in order (not the duplicates). */
  readonly taken: TelemetryBatch[] = [];
  /** Every request: method, seq (POST) and the raw body. */
  readonly requests: Array<{ method: string; at: number; seq: number | null; body: string; status: number }> = [];
  readonly events = new Map<number, Row>();
  readonly llmRequests = new Map<number, Row>();
  readonly toolCalls = new Map<number, Row>();
  readonly agents = new Map<string, TelemetryBatch['agents'][number]>();
  readonly breakers = new Map<string, TelemetryBatch['breakers'][number]>();
  /** Rows a batch brought that the receiver already held (should be none but after a lost ack). */
  readonly repeats: string[] = [];
  readonly problems: string[] = [];
  mode: Mode = 'ok';
  /** A busy panel's pace, sent with each ack (ms; null: none). */
  paceMs: number | null = null;
  port = 0;
  private server: Server | null = null;
  private readonly held: ServerResponse[] = [];

  /** `tls`: serve https with this key and certificate. */
  constructor(private readonly tls: { key: string; cert: string } | null = null) {}

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    const server = this.tls ? createTlsServer(this.tls, handler) : createServer(handler);
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stop listening and hang up on everyone: connections are refused until `start()`. */
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

  /** As a panel restored from an older backup: it forgets the batches after `seq` and their rows. */
  rollBackTo(seq: number): void {
    const kept = this.taken.filter((b) => b.seq <= seq);
    this.taken.length = 0;
    for (const m of [this.events, this.llmRequests, this.toolCalls]) m.clear();
    this.lastSeq = 0;
    this.cursor = { eventSeq: 0, llmRequestId: 0, toolCallId: 0 };
    for (const b of kept) this.store(b);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await bodyOf(req);
    const seq = req.method === 'POST' ? ((safeJson(body) as { seq?: number } | null)?.seq ?? null) : null;
    const reply = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ method: req.method!, at: Date.now(), seq, body, status });
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));
    };
    if (req.url !== '/api/telemetry') return reply(404, { error: { code: 'not_found', message: 'no such route' } });
    const mode = this.mode;
    if (mode === 'hang') {
      this.requests.push({ method: req.method!, at: Date.now(), seq, body, status: 0 });
      this.held.push(res);
      return;
    }
    if (typeof mode === 'object')
      return reply(
        mode.status,
        safeJson(mode.body ?? '') ?? { error: { code: 'unavailable', message: mode.body ?? 'down for maintenance' } },
        mode.retryAfter ? { 'retry-after': mode.retryAfter } : {},
      );
    if (req.headers.authorization !== `Bearer ${this.token}`) return reply(401, { error: { code: 'unauthorized', message: 'unknown or revoked token' } });
    if (req.method === 'GET') return reply(200, { runtime: this.runtime, lastSeq: this.lastSeq, cursor: this.cursor });
    if (req.method !== 'POST') return reply(405, { error: { code: 'method_not_allowed', message: 'GET or POST' } });
    const parsed = telemetryBatch.safeParse(safeJson(body));
    if (!parsed.success) {
      this.problems.push(`batch refused: ${parsed.error.message}`);
      return reply(400, { error: { code: 'invalid_request', message: parsed.error.issues[0]?.message ?? 'bad batch' } });
    }
    const b = parsed.data;
    if (b.runtime !== this.runtime) return reply(403, { error: { code: 'forbidden', message: `this token reports for ${this.runtime}` } });
    if (b.seq <= this.lastSeq) return reply(200, { runtime: this.runtime, seq: b.seq, duplicate: true, stored: { agents: 0, events: 0, llmRequests: 0, toolCalls: 0, breakers: 0 } });
    if (b.seq > this.lastSeq + 1) return reply(409, { error: { type: 'out_of_order', message: `expected batch ${this.lastSeq + 1}`, expectedSeq: this.lastSeq + 1 } });
    const stored = this.store(b);
    if (mode === 'lose-ack') {
      this.mode = 'ok';
      this.requests.push({ method: 'POST', at: Date.now(), seq, body, status: 0 });
      res.destroy();
      return;
    }
    reply(200, { runtime: this.runtime, seq: b.seq, duplicate: false, stored, ...(this.paceMs === null ? {} : { paceMs: this.paceMs }) });
  }

  /** Take a batch: rows by their keys, each kind checked to follow on from the cursor with no gap. */
  private store(b: TelemetryBatch) {
    const stored = { agents: 0, events: 0, llmRequests: 0, toolCalls: 0, breakers: 0 };
    const take = <K>(kind: 'events' | 'llmRequests' | 'toolCalls', map: Map<K, Row>, rows: Row[], key: (r: Row) => K, from: number, contiguous: boolean) => {
      let at = from;
      for (const r of rows) {
        const k = key(r) as unknown as number;
        if (k <= at) this.problems.push(`batch ${b.seq}: ${kind} ${k} not after ${at}`);
        if (contiguous && k !== at + 1) this.problems.push(`batch ${b.seq}: ${kind} ${k} after ${at}: a gap`);
        at = k;
        if (map.has(key(r))) this.repeats.push(`${kind} ${k}`);
        else stored[kind]++;
        map.set(key(r), r);
      }
      return at;
    };
    this.cursor = {
      eventSeq: take('events', this.events, b.events, (r) => r.seq as number, this.cursor.eventSeq, true),
      llmRequestId: take('llmRequests', this.llmRequests, b.llmRequests, (r) => r.id as number, this.cursor.llmRequestId, true),
      // Tool call ids are contiguous too here (none pruned in these tests).
      toolCallId: take('toolCalls', this.toolCalls, b.toolCalls, (r) => r.id as number, this.cursor.toolCallId, true),
    };
    for (const a of b.agents) this.agents.set(String(a.id), a);
    for (const x of b.breakers) this.breakers.set(String(x.service), x);
    stored.agents = b.agents.length;
    stored.breakers = b.breakers.length;
    this.lastSeq = b.seq;
    this.taken.push(b);
    return stored;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
