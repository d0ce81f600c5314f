import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Undici } from '../core/on-first-use.js';
import { SseSplitter } from '../core/sse.js';
import { isJsonRpcMessage, isRequest, isResponse } from './jsonrpc.js';

// The cage's side of its session with a real MCP server over streamable HTTP, for the SDK's
// Client: POST each message (its answer JSON or an SSE stream), GET the server's own stream once
// the session is initialized, DELETE to end it. Over one undici pool per server, shared by every
// session with it, on Node streams: the SDK's StreamableHTTPClientTransport does the same through
// the global fetch and Web streams (and leaves an abort listener on its session's signal per
// request). The protocol stays the SDK Client's; this carries its messages.
//
// A stream that breaks before its answer is resumed from its last event id (GET with
// Last-Event-ID) where the server gave one; where it cannot be, the requests it carried are
// answered at once as closed (the session tells the agent the server is unavailable), never left
// to their time limit.

/** ErrorCode.ConnectionClosed: what a request gets when its stream broke for good. */
const CONNECTION_CLOSED = -32000;
/** How often a broken stream is tried again, and how long between tries (unless the server says `retry:`). */
const RETRIES = 2;
const RETRY_MS = 1_000;
/**
 * How long a request waits for the server's own stream (GET) to be open after initialized. A
 * server sends what it asks of the client unrelated to a request (a tool that calls
 * `server.createMessage` for sampling) on that stream, and one that finds it not open yet keeps the
 * message for a resumption that never comes: the tool call then waits for an answer it can never
 * get. So the first requests wait for the stream (a moment; a server slow to open it delays them
 * at most this long).
 */
const LISTEN_WAIT_MS = 2_000;
const RETRY_GROWTH = 1.5;
/** How long a stream whose answers are all in may stay open before it is let go of. */
const LET_GO_MS = 1_000;
/** Same-origin redirects followed (a server mounted at /mcp/ answering /mcp with 307, say). */
const MAX_REDIRECTS = 3;

export class StreamableHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`Streamable HTTP error: ${message}`);
  }
}

/**
 * The server no longer knows the cage's session (404 to a request that named it: the server
 * restarted, or ended it). The specification asks for a new session: this one is closed, so the
 * agent's ends too and its client starts another. Not a failure of the server (its breaker is
 * not told).
 */
export class SessionGoneError extends StreamableHttpError {}

export interface HttpUpstreamOptions {
  url: URL;
  /** Sent with every request (the configured headers, secrets filled in). */
  headers: Record<string, string>;
  /** The server's connection pool. */
  pool: Undici.Dispatcher;
  /** How long a request may wait for its answer's headers. */
  headersTimeoutMs: number;
}

interface Response {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & { text(): Promise<string>; dump(): Promise<void> };
}

export class HttpUpstreamTransport implements Transport {
  sessionId?: string;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private protocolVersion?: string;
  private url: URL;
  private readonly abort = new AbortController();
  private closed = false;
  private retryMs?: number;
  /** The server's own stream was opened once: each later opening waits a moment first. */
  private listened = false;
  /** Settled once the first opening of the server's own stream has its answer (or failed): requests wait for it (LISTEN_WAIT_MS). */
  private listening: Promise<void> | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Each request waiting for its answer on a stream: the stream's other waiting requests and its body (a cancelled call's stream is let go). */
  private readonly waiting = new Map<RequestId, { asked: Set<RequestId>; body: Readable }>();

  constructor(private readonly o: HttpUpstreamOptions) {
    this.url = o.url;
    // Each request in flight listens on it until it completes: as many as the agent has calls in flight.
    setMaxListeners(0, this.abort.signal);
  }

  async start(): Promise<void> {}

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { ...this.o.headers, ...extra };
    if (this.sessionId) h['mcp-session-id'] = this.sessionId;
    if (this.protocolVersion) h['mcp-protocol-version'] = this.protocolVersion;
    return h;
  }

  /** One request, same-origin 307/308 redirects followed (the new address kept for the next ones). */
  private async request(method: 'POST' | 'GET' | 'DELETE', headers: Record<string, string>, body?: string): Promise<Response> {
    let url = this.url;
    for (let hops = 0; ; hops++) {
      const r = (await this.o.pool.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers: this.headers(headers),
        ...(body === undefined ? {} : { body }),
        signal: this.abort.signal,
        headersTimeout: this.o.headersTimeoutMs,
        // A stream may be quiet for long (the server's own GET stream): each request's time limit is the Client's.
        bodyTimeout: 0,
      })) as unknown as Response;
      const to = r.statusCode >= 300 && r.statusCode < 400 ? r.headers.location : undefined;
      if (typeof to !== 'string') return r;
      await r.body.dump();
      const next = new URL(to, url);
      if ((r.statusCode !== 307 && r.statusCode !== 308) || next.origin !== url.origin || hops >= MAX_REDIRECTS)
        throw new StreamableHttpError(
          r.statusCode,
          `${method} ${url.pathname} was redirected (${r.statusCode}) to ${next.href}: not followed (only ${MAX_REDIRECTS} redirects to the same origin that keep the method are)`,
        );
      url = this.url = next;
    }
  }

  async send(message: JSONRPCMessage | JSONRPCMessage[], options?: TransportSendOptions): Promise<void> {
    if (options?.resumptionToken) {
      this.resume(options.resumptionToken, new Set(isRequest(message as JSONRPCMessage) ? [(message as { id: RequestId }).id] : []), 0);
      return;
    }
    const messages = Array.isArray(message) ? message : [message];
    for (const m of messages) if ('method' in m && m.method === 'notifications/cancelled') this.cancelled((m.params as { requestId?: RequestId } | undefined)?.requestId);
    if (this.listening !== null && messages.some(isRequest)) await waitAtMost(this.listening, LISTEN_WAIT_MS);
    const named = this.sessionId !== undefined;
    let r: Response;
    try {
      r = await this.request('POST', { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, JSON.stringify(message));
    } catch (e) {
      this.onerror?.(e as Error);
      throw e;
    }
    const sid = r.headers['mcp-session-id'];
    if (typeof sid === 'string') this.sessionId = sid;
    if (r.statusCode < 200 || r.statusCode >= 300) {
      const text = await r.body.text().catch(() => '');
      const e =
        r.statusCode === 404 && named
          ? new SessionGoneError(404, `the server no longer knows this session (it restarted, or ended it): ${text.slice(0, 200)}`)
          : new StreamableHttpError(r.statusCode, `Error POSTing to endpoint (HTTP ${r.statusCode}): ${text.slice(0, 500)}`);
      this.onerror?.(e);
      // Closed once this call has its error (closing first would give every waiting call a bare "connection closed").
      if (e instanceof SessionGoneError) setImmediate(() => void this.close());
      throw e;
    }
    const asked = new Set<RequestId>();
    for (const m of messages) if (isRequest(m)) asked.add(m.id);
    if (r.statusCode === 202 || asked.size === 0) {
      // Nothing to read for a notification or an answer (a server that streams one anyway is not waited on).
      if (r.statusCode === 202) await r.body.dump();
      else r.body.destroy();
      // Initialized: the server's own stream, for what it says unasked.
      if (messages.some((m) => 'method' in m && m.method === 'notifications/initialized')) this.listen(null, 0);
      return;
    }
    const type = String(r.headers['content-type'] ?? '')
      .split(';', 1)[0]!
      .trim()
      .toLowerCase();
    if (type === 'text/event-stream') {
      void this.read(r.body, asked, false);
      return;
    }
    if (type === 'application/json') {
      const text = await r.body.text();
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch {
        throw new StreamableHttpError(-1, `the server's answer is not JSON: ${text.slice(0, 200)}`);
      }
      for (const m of Array.isArray(data) ? data : [data]) this.deliver(m);
      return;
    }
    await r.body.dump();
    throw new StreamableHttpError(-1, `Unexpected content type: ${type || 'none'}`);
  }

  private deliver(m: unknown): boolean {
    if (!isJsonRpcMessage(m)) {
      this.onerror?.(new Error(`the server sent something that is no JSON-RPC message: ${JSON.stringify(m)?.slice(0, 200)}`));
      return false;
    }
    this.onmessage?.(m);
    return isResponse(m);
  }

  /** A call the Client gave up on (its time limit, the agent's cancel): its stream is not waited on for it any longer. */
  private cancelled(id: RequestId | undefined): void {
    const w = id === undefined ? undefined : this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id!);
    w.asked.delete(id!);
    if (w.asked.size === 0) w.body.destroy();
  }

  /**
   * Read an SSE stream until each request it carries has its answer (`asked`; none: the server's
   * own stream, read to its end). A stream that ends before is resumed from its last event id
   * (`last`: the one a stream it resumes had reached); the server's own stream is opened again
   * whenever it ends.
   */
  private async read(body: Readable, asked: Set<RequestId>, own: boolean, last?: string): Promise<void> {
    const split = new SseSplitter();
    let broke: unknown = null;
    let done: NodeJS.Timeout | null = null;
    for (const id of asked) this.waiting.set(id, { asked, body });
    try {
      for await (const chunk of body) {
        for (const e of split.push(chunk as Buffer)) {
          if (e.retry !== undefined) this.retryMs = e.retry;
          if (e.id !== undefined) last = e.id;
          if (e.data === '' || (e.event !== null && e.event !== 'message')) continue;
          let m: unknown;
          try {
            m = JSON.parse(e.data);
          } catch {
            this.onerror?.(new Error(`the server sent an event that is not JSON: ${e.data.slice(0, 200)}`));
            continue;
          }
          if (this.deliver(m)) {
            const id = (m as { id: RequestId }).id;
            asked.delete(id);
            this.waiting.delete(id);
          }
        }
        // Every answer is in: the server ends the stream now (its connection then serves the next
        // call); one that keeps it open is let go of after a moment.
        if (!own && asked.size === 0 && done === null) {
          done = setTimeout(() => body.destroy(), LET_GO_MS);
          done.unref();
        }
      }
    } catch (e) {
      broke = e;
    } finally {
      if (done) clearTimeout(done);
    }
    if (this.closed) return;
    if (own) return this.listen(last ?? null, 0);
    if (asked.size === 0) return;
    if (last !== undefined) return this.resume(last, asked, 0);
    this.fail(asked, broke === null ? 'the server ended the stream before answering' : `the stream broke: ${(broke as Error).message}`);
  }

  /** The requests a stream carried, answered as closed (the Client rejects each at once). */
  private fail(asked: Set<RequestId>, why: string): void {
    for (const id of asked) {
      this.waiting.delete(id);
      this.onmessage?.({ jsonrpc: '2.0', id, error: { code: CONNECTION_CLOSED, message: `Connection closed: ${why}` } });
    }
    asked.clear();
  }

  private later(attempt: number, fn: () => void): void {
    const t = setTimeout(
      () => {
        this.timers.delete(t);
        if (!this.closed) fn();
      },
      this.retryMs ?? RETRY_MS * RETRY_GROWTH ** attempt,
    );
    this.timers.add(t);
  }

  /**
   * Pick a request's broken stream up again after `last` (GET with Last-Event-ID): a few failed
   * tries in a row at most, counted afresh after each that opened (a server may close a long
   * call's stream again and again, as the specification lets it); until the Client gives up on it.
   */
  private resume(last: string, asked: Set<RequestId>, attempt: number): void {
    if (asked.size === 0) return;
    if (attempt >= RETRIES) return this.fail(asked, `the stream broke and could not be resumed after ${RETRIES} tries`);
    this.later(attempt, () => {
      if (asked.size === 0) return;
      this.request('GET', { accept: 'text/event-stream', 'last-event-id': last }).then(
        async (r) => {
          if (r.statusCode !== 200) {
            await r.body.dump();
            if (r.statusCode === 404) return this.fail(asked, 'the server no longer knows this session or stream');
            return this.resume(last, asked, attempt + 1);
          }
          await this.read(r.body, asked, false, last);
        },
        () => this.resume(last, asked, attempt + 1),
      );
    });
  }

  /**
   * The server's own stream (GET): opened once initialized (`last` null, at once), and again a
   * moment after it ends or breaks, from its last event id; a server that offers none answers 405.
   */
  private listen(last: string | null, attempt: number): void {
    let opened: (() => void) | null = null;
    if (attempt === 0 && last === null && !this.listened)
      this.listening = new Promise<void>(
        (resolve) =>
          (opened = () => {
            // Settled: the requests after it need not wait on it (a race and a timer each).
            this.listening = null;
            resolve();
          }),
      );
    const open = async () => {
      let r: Response;
      try {
        r = await this.request('GET', last === null ? { accept: 'text/event-stream' } : { accept: 'text/event-stream', 'last-event-id': last });
      } finally {
        opened?.();
        opened = null;
      }
      if (r.statusCode === 405) return r.body.dump();
      if (r.statusCode === 404) {
        // The server no longer knows the session: this one ends (the agent's too), and a new one starts.
        await r.body.dump();
        this.onerror?.(new SessionGoneError(404, 'the server no longer knows this session'));
        return void this.close();
      }
      if (r.statusCode !== 200) {
        await r.body.dump();
        throw new StreamableHttpError(r.statusCode, `Failed to open SSE stream (HTTP ${r.statusCode})`);
      }
      await this.read(r.body, new Set(), true);
    };
    const tryAgain = (e: unknown) => {
      if (this.closed) return;
      this.onerror?.(e as Error);
      if (attempt + 1 < RETRIES) this.listen(last, attempt + 1);
    };
    if (attempt === 0 && last === null && !this.listened) {
      this.listened = true;
      open().catch(tryAgain);
    } else this.later(attempt, () => open().catch(tryAgain));
  }

  /** End the session with the server (DELETE); a server that keeps none answers 405. */
  async terminateSession(): Promise<void> {
    if (!this.sessionId || this.closed) return;
    const r = await this.request('DELETE', {});
    await r.body.dump();
    if (r.statusCode >= 300 && r.statusCode !== 405) throw new StreamableHttpError(r.statusCode, `Failed to terminate session (HTTP ${r.statusCode})`);
    this.sessionId = undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.waiting.clear();
    this.abort.abort();
    this.onclose?.();
  }
}

/** `p`, or nothing after `ms`, whichever comes first (never rejects). */
function waitAtMost(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}
