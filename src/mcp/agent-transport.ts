import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { isJsonRpcMessage, isRequest, isResponse, withoutCodePrefix } from './jsonrpc.js';
import type { SessionEvents } from './events.js';

// The agent's side of an MCP session: the streamable HTTP transport (MCP 2025-11-25, "Streamable
// HTTP") served straight on Node's request and response, for the SDK's Server the session runs.
// The SDK's own StreamableHTTPServerTransport does the same work through Web-standard Request,
// Response and ReadableStream objects (converted by @hono/node-server), which cost the cage more
// CPU per tools/call than everything else it does for the call (docs/benchmarks-history.md, MCP); the
// protocol itself stays the SDK's: this only carries its messages.
//
// What a client sees is what the SDK's transport gives it: POST carries one message or a batch
// (a notification or response only: 202; requests: an SSE stream that ends once each has its
// answer), GET opens the session's own stream (one at a time, 409 for another) or resumes one with
// Last-Event-ID, DELETE ends the session; each stream opens with a priming event (an id to resume
// from) for clients on 2025-11-25, and says `: keepalive` while quiet. A stream's answer is written
// with its end in one write, and its headers with its first event.

/** What a client that sent no Mcp-Protocol-Version speaks (the specification's default). */
const DEFAULT_VERSION = '2025-03-26';
/** The largest batch one POST may carry (as the SDK's transport). */
const MAX_BATCH = 100;
/** A quiet stream says `: keepalive` this often, so proxies and clients keep it open. */
const KEEP_ALIVE_MS = 15_000;
const GET_STREAM = '_GET_stream';
/**
 * How long a POST's stream waits for its answer before its headers and first event id go out.
 * Most tools/calls are answered within it: their stream is one write instead of two or three
 * (the syscalls are most of what the cage's own CPU per call was left with). A slower call's
 * client has its headers and an id to resume from this much later than at once.
 */
const BEGIN_AFTER_MS = 10;

const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' };

interface Stream {
  res: ServerResponse;
  /** When it was last written to (the keep-alive's clock). */
  wrote: number;
  /**
   * A POST's stream not yet begun: its headers (and priming event, for 2025-11-25 clients) wait
   * `BEGIN_AFTER_MS` for the answer, so a quick answer goes out whole in one write with a length.
   */
  waiting: { headers: Record<string, string>; priming: string; timer: NodeJS.Timeout } | null;
}

export interface AgentTransportOptions {
  sessionId: () => string;
  /** Where each stream's messages are kept for resumption. */
  events: SessionEvents;
  /** Called once the initialize request arrives, with the new session's id (before it is answered). */
  onSessionInitialized: (id: string) => void;
  /** The protocol versions a request may name (the SDK's). */
  versions: readonly string[];
}

/** A JSON-RPC error with no id, as an HTTP answer (the SDK's transport words and codes). */
function refuse(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers }).end(body);
}

function sseEvent(json: string, id: string | undefined): string {
  return id === undefined ? `event: message\ndata: ${json}\n\n` : `event: message\nid: ${id}\ndata: ${json}\n\n`;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** What a handler is told of the HTTP request that carried its message: the URL parsed only if it reads it (the cage's read the headers). */
class RequestInfo {
  readonly headers: Record<string, string>;
  private parsed: URL | undefined;

  constructor(private readonly req: IncomingMessage) {
    this.headers = req.headers as Record<string, string>;
  }

  get url(): URL {
    this.parsed ??= new URL(this.req.url ?? '/', 'http://localhost');
    return this.parsed;
  }
}

export class AgentTransport implements Transport {
  sessionId?: string;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;

  private started = false;
  private initialized = false;
  private closed = false;
  /** Open responses by stream id: a POST's own stream, or the session's GET stream. */
  private readonly streams = new Map<string, Stream>();
  /** Which stream each request in flight answers on, and the answers of streams still waiting for others. */
  private readonly requestStream = new Map<RequestId, string>();
  private readonly answered = new Map<RequestId, string>();
  private streamCount = 0;
  private keepAlive: NodeJS.Timeout | null = null;

  constructor(private readonly o: AgentTransportOptions) {}

  async start(): Promise<void> {
    if (this.started) throw new Error('Transport already started');
    this.started = true;
  }

  /**
   * One HTTP request of the session (POST with its body already parsed, GET, DELETE). Resolves
   * once it is answered or its stream is open and its messages handed to the server.
   */
  async handleRequest(req: IncomingMessage, res: ServerResponse, body?: unknown): Promise<void> {
    if (this.closed) return refuse(res, 404, -32001, 'Session not found');
    if (req.method === 'POST') return this.post(req, res, body);
    if (req.method === 'GET') return this.get(req, res);
    if (req.method === 'DELETE') return this.delete(req, res);
    refuse(res, 405, -32000, 'Method not allowed.', { allow: 'GET, POST, DELETE' });
  }

  private post(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    const accept = header(req, 'accept') ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream'))
      return refuse(res, 406, -32000, 'Not Acceptable: Client must accept both application/json and text/event-stream');
    const type = (header(req, 'content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (type !== 'application/json') return refuse(res, 415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
    if (Array.isArray(body) && body.length > MAX_BATCH) return refuse(res, 400, -32600, `Invalid Request: Batch must not exceed ${MAX_BATCH} messages`);
    const messages = (Array.isArray(body) ? body : [body]) as JSONRPCMessage[];
    if (messages.length === 0 || !messages.every(isJsonRpcMessage)) return refuse(res, 400, -32700, 'Parse error: Invalid JSON-RPC message');
    const init = messages.find((m) => isRequest(m) && m.method === 'initialize') as { params?: { protocolVersion?: unknown } } | undefined;
    if (init) {
      if (this.initialized) return refuse(res, 400, -32600, 'Invalid Request: Server already initialized');
      if (messages.length > 1) return refuse(res, 400, -32600, 'Invalid Request: Only one initialization request is allowed');
      this.sessionId = this.o.sessionId();
      this.initialized = true;
      this.o.onSessionInitialized(this.sessionId);
    } else if (!this.validSession(req, res) || !this.validVersion(req, res)) return;
    const extra: MessageExtraInfo = { requestInfo: new RequestInfo(req) };
    // A call the client gave up on gets no answer from the server: its stream is not kept open for it.
    for (const m of messages) if ('method' in m && m.method === 'notifications/cancelled') this.cancelled((m.params as { requestId?: RequestId } | undefined)?.requestId);
    if (!messages.some(isRequest)) {
      res.writeHead(202).end();
      for (const m of messages) this.onmessage?.(m, extra);
      return;
    }
    const stream = `s${++this.streamCount}`;
    const version = typeof init?.params?.protocolVersion === 'string' ? init.params.protocolVersion : (header(req, 'mcp-protocol-version') ?? DEFAULT_VERSION);
    const headers = this.sessionId === undefined ? SSE_HEADERS : { ...SSE_HEADERS, 'mcp-session-id': this.sessionId };
    // An event id before anything else (clients on 2025-11-25): a client that loses the stream can
    // resume it even before the first message.
    const priming = version >= '2025-11-25' ? `id: ${this.o.events.store(stream, null)}\ndata: \n\n` : '';
    const s = this.open(stream, res, { headers, priming, timer: setTimeout(() => this.begin(stream, ''), BEGIN_AFTER_MS) });
    for (const m of messages) if (isRequest(m)) this.requestStream.set(m.id, stream);
    for (const m of messages) this.onmessage?.(m, extra);
    // The client's hang-up ends the wait too.
    res.on('close', () => {
      if (s.waiting) clearTimeout(s.waiting.timer);
    });
  }

  private get(req: IncomingMessage, res: ServerResponse): void {
    if (!(header(req, 'accept') ?? '').includes('text/event-stream')) return refuse(res, 406, -32000, 'Not Acceptable: Client must accept text/event-stream');
    if (!this.validSession(req, res) || !this.validVersion(req, res)) return;
    const last = header(req, 'last-event-id');
    if (last) return this.replay(last, res);
    if (this.streams.has(GET_STREAM)) return refuse(res, 409, -32000, 'Conflict: Only one SSE stream is allowed per session');
    res.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': this.sessionId! });
    res.flushHeaders();
    this.open(GET_STREAM, res, null);
  }

  /** A stream resumed: what it missed after `last`, then what comes next on it. */
  private replay(last: string, res: ServerResponse): void {
    const stream = this.o.events.streamOf(last);
    if (stream === undefined) return refuse(res, 400, -32000, 'Invalid event ID format');
    if (this.streams.has(stream)) return refuse(res, 409, -32000, 'Conflict: Stream already has an active connection');
    res.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': this.sessionId! });
    let text = '';
    this.o.events.after(last, (id, json) => {
      text += sseEvent(json, id);
    });
    // A request's stream whose answers were all given while it was away ends with its replay.
    if (stream !== GET_STREAM && ![...this.requestStream.values()].includes(stream)) {
      res.end(text);
      return;
    }
    if (text === '') res.flushHeaders();
    else res.write(text);
    this.open(stream, res, null);
  }

  private delete(req: IncomingMessage, res: ServerResponse): void {
    if (!this.validSession(req, res) || !this.validVersion(req, res)) return;
    res.writeHead(200).end();
    void this.close();
  }

  private validSession(req: IncomingMessage, res: ServerResponse): boolean {
    if (!this.initialized) refuse(res, 400, -32000, 'Bad Request: Server not initialized');
    else {
      const id = header(req, 'mcp-session-id');
      if (!id) refuse(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
      else if (id !== this.sessionId) refuse(res, 404, -32001, 'Session not found');
      else return true;
    }
    return false;
  }

  private validVersion(req: IncomingMessage, res: ServerResponse): boolean {
    const v = header(req, 'mcp-protocol-version');
    if (v === undefined || this.o.versions.includes(v)) return true;
    refuse(res, 400, -32000, `Bad Request: Unsupported protocol version: ${v} (supported versions: ${this.o.versions.join(', ')})`);
    return false;
  }

  /** The request `id` will get no answer (its client cancelled it): forgotten, and its stream ended once nothing else on it waits. */
  private cancelled(id: RequestId | undefined): void {
    const stream = id === undefined ? undefined : this.requestStream.get(id);
    if (stream === undefined) return;
    this.requestStream.delete(id!);
    this.answered.delete(id!);
    if (![...this.requestStream.values()].includes(stream)) this.end(stream);
  }

  private open(stream: string, res: ServerResponse, waiting: Stream['waiting']): Stream {
    const s: Stream = { res, wrote: Date.now(), waiting };
    this.end(stream);
    // A client already gone (it hung up while its request waited to be let in): nothing to keep.
    if (res.destroyed || res.socket?.destroyed) {
      if (waiting) clearTimeout(waiting.timer);
      return s;
    }
    this.streams.set(stream, s);
    // The client went away: the stream is gone (what is sent on it meanwhile is kept for a resume).
    res.on('close', () => {
      if (this.streams.get(stream) === s) this.streams.delete(stream);
    });
    this.keepAlive ??= setInterval(() => this.sayAlive(), KEEP_ALIVE_MS).unref();
    return s;
  }

  /** A waiting stream's headers and priming event go out, with `text` in the same write. */
  private begin(stream: string, text: string): void {
    const s = this.streams.get(stream);
    if (!s?.waiting) return;
    const { headers, priming, timer } = s.waiting;
    s.waiting = null;
    clearTimeout(timer);
    s.res.writeHead(200, headers);
    const all = priming + text;
    if (all === '') s.res.flushHeaders();
    else this.write(stream, all);
  }

  private write(stream: string, text: string): void {
    const s = this.streams.get(stream);
    if (!s) return;
    if (s.waiting) return this.begin(stream, text);
    s.wrote = Date.now();
    s.res.write(text);
  }

  /** A stream ends: one not yet begun is answered whole, its length known. */
  private end(stream: string, text = ''): void {
    const s = this.streams.get(stream);
    if (!s) return;
    this.streams.delete(stream);
    if (!s.waiting) return void s.res.end(text);
    clearTimeout(s.waiting.timer);
    const body = s.waiting.priming + text;
    s.res.writeHead(200, { ...s.waiting.headers, 'content-length': String(Buffer.byteLength(body)) }).end(body);
  }

  private sayAlive(): void {
    const quiet = Date.now() - KEEP_ALIVE_MS / 2;
    for (const [id, s] of this.streams) if (!s.waiting && s.wrote < quiet) this.write(id, ': keepalive\n\n');
  }

  async send(sent: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    // Ended (DELETE, idle, the cage stopping): what the server still says has nowhere to go.
    if (this.closed) return;
    const message = withoutCodePrefix(sent);
    const answer = isResponse(message);
    const id = answer ? (message as { id: RequestId }).id : options?.relatedRequestId;
    const json = JSON.stringify(message);
    if (id === undefined) {
      if (answer) throw new Error('Cannot send a response on a standalone SSE stream unless resuming a previous client request');
      // Said unasked (a list changed, a log line): on the session's GET stream, kept for its resume.
      this.write(GET_STREAM, sseEvent(json, this.o.events.store(GET_STREAM, json)));
      return;
    }
    const stream = this.requestStream.get(id);
    if (stream === undefined) throw new Error(`No connection established for request ID: ${String(id)}`);
    // Every message has an event id: a client that lost its stream resumes it from the last it read.
    const text = sseEvent(json, this.o.events.store(stream, json));
    if (!answer) return this.write(stream, text);
    // An answer: the stream ends once every request it carried has one (one write with its end).
    this.answered.set(id, stream);
    const waiting = [...this.requestStream].filter(([, s]) => s === stream);
    if (!waiting.every(([r]) => this.answered.has(r))) return this.write(stream, text);
    for (const [r] of waiting) {
      this.answered.delete(r);
      this.requestStream.delete(r);
    }
    // Nobody on it (the client lost it): the answer waits in the store for its resume.
    this.end(stream, text);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.keepAlive) clearInterval(this.keepAlive);
    for (const id of [...this.streams.keys()]) this.end(id);
    this.requestStream.clear();
    this.answered.clear();
    this.onclose?.();
  }
}
