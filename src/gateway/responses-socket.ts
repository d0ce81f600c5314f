import { randomBytes } from 'node:crypto';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../core/logger.js';
import { SseSplitter } from '../core/sse.js';
import { collect, errorAnswer, JsonTooDeepError, Loopback, parseBoundedJson, rawJsonAnswer, type UpgradeRoute } from '../server/index.js';
import { GatewayError } from './errors.js';
import type { GatewayHandler } from './handler.js';
import type { ResponsesState } from './responses-state.js';
import { type Body, inputItems, isObject } from './stored-items.js';
import { METERED_ROUTES } from './wire/wires.js';

// The Responses API over a WebSocket (OpenAI's "WebSocket mode"; Codex CLI's first transport):
// `GET /v1/responses` upgraded, then one `response.create` message per call, answered with the
// very events the HTTP stream carries, one per message. Each call is an HTTP streamed Responses
// call run through the gateway's own handler over an in-memory connection (server/loopback.ts):
// its token, the pause gate, validation, the reservation, the PII and injection guards, the
// upstream with its breaker and fallbacks, the settle, the ledger row, the events and the trace
// are the HTTP path's, not a copy of them. What is the socket's alone lives here: the upgrade's
// refusals, the frames, the continuation of a response that was not stored, warm-ups, and the
// error event a client reads where an HTTP client would read a status. docs/responses-websocket.md
// says what the protocol is and what the cage does with each part of it.

/** Where the socket is served: the HTTP Responses API's own path. */
export const RESPONSES_SOCKET_PATH = '/v1/responses';
/** Sockets one agent may hold open: a coding agent holds one or two. Past it an upgrade is refused 429. */
export const SOCKETS_PER_AGENT = 16;
/** A client that sends a message larger than the gateway's request limit plus this (the envelope) is closed with 1009. */
const ENVELOPE_BYTES = 64 * 1024;
/** Unsent bytes a socket may hold before the call's answer is read no faster than the client takes it. */
const HIGH_WATER = 1024 * 1024;
/** How often each socket is pinged; one that did not answer the last ping is dropped. */
const HEARTBEAT_MS = 30_000;
/** How long a call in flight when the cage stops may take to end before its socket is cut. */
const STOP_GRACE_MS = 5_000;
/** The error an HTTP answer of this size or less is read whole to be told as an error event. */
const ERROR_BYTES = 1024 * 1024;

/** The only call a socket makes, and the acknowledgement some clients send after it (nothing answers that). */
const CREATE = 'response.create';
const PROCESSED = 'response.processed';
/** Events after which a call is over: the client stops reading it. */
const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed', 'error']);

/** The route a socket's calls take over HTTP: its wire for validation and errors. */
const route = METERED_ROUTES[`POST ${RESPONSES_SOCKET_PATH}`]!;

export interface ResponsesSocketDeps {
  /** The gateway's request path: each call is handed to it, and each upgrade's token checked by it. */
  handler: Pick<GatewayHandler, 'handle' | 'authenticate'>;
  /** A warm-up that refers to stored state: expanded as a call would be. */
  responses: Pick<ResponsesState, 'resolve'>;
  /** The largest request body the gateway reads (`gateway.max_request_mb`). */
  maxRequestBytes: number;
  logger: Logger;
}

/** What a later `response.create` with `previous_response_id` continues from on this socket: every item of the response's context, its input then its output. */
interface Continued {
  id: string;
  items: unknown[];
}

/** One open socket: one agent's, one call at a time. */
interface Session {
  ws: WebSocket;
  agentId: string;
  /** The upgrade's headers: every call carries its credentials and tracing as an HTTP call would. */
  headers: IncomingHttpHeaders;
  /** The call in flight, if any: its HTTP request, destroyed if the client goes away. */
  call: ClientRequest | null;
  busy: boolean;
  /** The last response answered on this socket that was not stored, and so can be continued only here. */
  last: Continued | null;
  alive: boolean;
  /** Called once the socket's unsent bytes are back under HIGH_WATER (the call's answer waits for it). */
  drained: (() => void) | null;
  /** Each send's callback: wakes `drained` when the client has caught up. */
  sent: () => void;
}

/**
 * The gateway's WebSocket endpoint: the upgrade (authenticated before it completes), then each
 * socket's calls. `route` is what the server mounts; `stopping` and `close` end the sockets.
 */
export class ResponsesSockets {
  private wss: Promise<WebSocketServer> | null = null;
  private readonly sessions = new Set<Session>();
  private readonly perAgent = new Map<string, number>();
  private readonly loopback: Loopback;
  private readonly heartbeat: NodeJS.Timeout;
  private closing = false;

  readonly route: UpgradeRoute = { path: RESPONSES_SOCKET_PATH, handle: (req, socket, head) => this.upgrade(req, socket, head) };

  constructor(private readonly d: ResponsesSocketDeps) {
    this.loopback = new Loopback(d.handler.handle);
    this.heartbeat = setInterval(() => this.ping(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Open sockets. */
  get size(): number {
    return this.sessions.size;
  }

  // ── the upgrade ──────────────────────────────────────────────────────────────────────

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Refused in the wire's own error shape, as an HTTP call would be: the client reads the status and the message.
    const refuse = (err: unknown) => {
      const a = errorAnswer(err);
      if (a.unexpected) this.d.logger.error({ err }, 'Responses socket upgrade failed');
      socket.end(rawJsonAnswer(a.status, route.wire.error(a.status, a.kind, a.message).body, a.headers));
    };
    if (this.closing) return refuse(stopping());
    // The token is checked before the upgrade completes: a caller without one never has a socket.
    this.d.handler.authenticate(req.headers).then(({ agentId }) => {
      if (this.closing) return refuse(stopping());
      const open = this.perAgent.get(agentId) ?? 0;
      if (open >= SOCKETS_PER_AGENT)
        return refuse(new GatewayError('rate_limit', `This agent already has ${open} Responses sockets open, the most iron-cage serves one agent: close one, or call POST /v1/responses.`, true, 1));
      // Counted once accepted: a handshake the library refuses (a bad key) never calls back.
      this.server().then((wss) => wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, agentId, req.headers)), refuse);
    }, refuse);
  }

  private server(): Promise<WebSocketServer> {
    // Loaded with the first socket: a runtime whose agents never open one never holds the module.
    this.wss ??= import('ws').then(({ WebSocketServer }) => new WebSocketServer({ noServer: true, maxPayload: this.d.maxRequestBytes + ENVELOPE_BYTES }));
    return this.wss;
  }

  private accept(ws: WebSocket, agentId: string, headers: IncomingHttpHeaders): void {
    const s: Session = { ws, agentId, headers, call: null, busy: false, last: null, alive: true, drained: null, sent: () => {} };
    s.sent = () => {
      if (s.drained !== null && (s.ws.readyState !== s.ws.OPEN || s.ws.bufferedAmount <= HIGH_WATER)) {
        const go = s.drained;
        s.drained = null;
        go();
      }
    };
    this.sessions.add(s);
    this.perAgent.set(agentId, (this.perAgent.get(agentId) ?? 0) + 1);
    this.d.logger.debug(`Responses socket opened by agent ${agentId}`);
    ws.on('pong', () => (s.alive = true));
    ws.on('message', (data: RawData, isBinary: boolean) => this.message(s, data, isBinary));
    // The client gone mid-call: the call's HTTP request is hung up, and the handler settles it as
    // it settles any call whose caller went away (its row `aborted`, charged what it used).
    const gone = () => {
      if (!this.sessions.delete(s)) return;
      this.release(agentId);
      s.call?.destroy();
      s.sent();
    };
    ws.on('close', gone);
    ws.on('error', gone);
    if (this.closing) ws.close(1001, 'iron-cage is stopping');
  }

  private release(agentId: string): void {
    const left = (this.perAgent.get(agentId) ?? 1) - 1;
    if (left > 0) this.perAgent.set(agentId, left);
    else this.perAgent.delete(agentId);
  }

  // ── the frames ───────────────────────────────────────────────────────────────────────

  private message(s: Session, data: RawData, isBinary: boolean): void {
    const refused = this.frame(s, data, isBinary);
    if (refused) this.send(s, refused);
  }

  /** One message from the client: a call begun (null), or the error event that refuses it. */
  private frame(s: Session, data: RawData, isBinary: boolean): string | null {
    if (isBinary) return errorEvent(400, 'invalid_request', 'Binary messages are not read: send each event as a JSON text message.', 'invalid_frame');
    let frame: unknown;
    try {
      frame = parseBoundedJson(rawText(data));
    } catch (e) {
      if (e instanceof JsonTooDeepError) return errorEvent(400, 'invalid_request', e.message, 'json_too_deep');
      return errorEvent(400, 'invalid_request', `The message is not valid JSON: ${(e as Error).message}. Send each event as one JSON object.`, 'invalid_json');
    }
    if (!isObject(frame)) return errorEvent(400, 'invalid_request', 'The message must be a JSON object with a type, such as {"type": "response.create", ...}.', 'invalid_frame');
    if (frame.type === undefined) return errorEvent(400, 'invalid_request', "Missing required parameter: 'type'.", 'invalid_frame');
    // An acknowledgement of a response read (Codex sends one behind a flag): nothing answers it.
    if (frame.type === PROCESSED) return null;
    if (frame.type !== CREATE)
      return errorEvent(
        400,
        'invalid_request',
        `Invalid value for 'type': ${JSON.stringify(frame.type)}. Supported values are: '${CREATE}' (and '${PROCESSED}', which is read and not answered).`,
        'invalid_frame',
      );
    if (s.busy)
      return errorEvent(
        400,
        'invalid_request',
        'A response is already in progress on this socket: send the next response.create once it has ended (with response.completed, response.incomplete, response.failed or error), or open another socket.',
        'response_already_in_flight',
      );
    if (this.closing) return errorEvent(503, 'unavailable', 'iron-cage is stopping: connect again.');
    const { type: _type, ...body } = frame;
    if (body.stream_id !== undefined && body.stream_id !== null)
      return errorEvent(
        400,
        'invalid_request',
        "Invalid parameter 'stream_id': iron-cage answers one response at a time on a socket, in order; open another socket for another lane.",
        'invalid_frame',
      );
    delete body.stream_id;
    const generate = body.generate;
    if (generate !== undefined && generate !== null && typeof generate !== 'boolean') return errorEvent(400, 'invalid_request', "Invalid type for 'generate': expected a boolean.");
    delete body.generate;
    const continued = this.continuation(s, body);
    if (typeof continued === 'string') return continued;
    s.busy = true;
    const run = generate === false ? this.warmUp(s, body, continued) : this.create(s, body, continued);
    run
      .catch((err: unknown) => {
        this.d.logger.error({ err }, 'Responses socket call failed');
        s.last = null;
        this.send(s, errorEvent(500, 'upstream', 'iron-cage internal error: the details are in its log'));
      })
      .finally(() => {
        s.busy = false;
        s.call = null;
        if (this.closing) s.ws.close(1001, 'iron-cage is stopping');
      });
    return null;
  }

  /**
   * A `previous_response_id` naming the last response of this socket that was not stored: its
   * context and output go before the new input (what OpenAI keeps in the socket's memory), and
   * the call is sent whole. Any other id is left to the HTTP path, which finds stored responses
   * and refuses the rest. Returns whether the body's whole context is now known here, or the
   * error event refusing the body as the client sent it.
   */
  private continuation(s: Session, body: Body): boolean | string {
    const prev = body.previous_response_id;
    if (s.last !== null && prev === s.last.id) {
      const own = body.input ?? [];
      // Checked as sent, as the HTTP path checks a body before it expands it: a problem is named
      // where the client put it (`input[0]`), not where the expansion moved it. An empty input
      // (all of it came before) is the continuation's to allow.
      const empty = Array.isArray(own) && own.length === 0;
      const invalid = empty ? null : route.wire.validate(route.endpoint, body);
      if (invalid) return errorEvent(400, 'invalid_request', invalid);
      body.input = [...s.last.items, ...inputItems(own)];
      delete body.previous_response_id;
      return true;
    }
    const refers =
      (prev !== undefined && prev !== null) ||
      (body.conversation !== undefined && body.conversation !== null) ||
      (Array.isArray(body.input) && body.input.some((it) => isObject(it) && it.type === 'item_reference'));
    return !refers;
  }

  /** One call, through the HTTP path, its answer relayed event by event. */
  private async create(s: Session, body: Body, whole: boolean): Promise<void> {
    body.stream = true;
    const text = JSON.stringify(body);
    const { req, answer } = this.loopback.request({ method: 'POST', path: RESPONSES_SOCKET_PATH, headers: this.callHeaders(s, body), body: text });
    s.call = req;
    let res: IncomingMessage;
    try {
      res = await answer;
    } catch {
      // The client went away before the answer began: the handler has settled what it had to.
      return;
    }
    const status = res.statusCode ?? 502;
    const type = String(res.headers['content-type'] ?? '');
    if (status >= 400 || !type.startsWith('text/event-stream')) {
      const raw = await (status >= 400 ? collect(res, ERROR_BYTES) : collect(res)).catch(() => null);
      s.last = null;
      if (raw === null) return;
      const json = parseOr(raw.toString('utf8'));
      if (status >= 400) return void this.send(s, errorFrom(status, json, res.headers));
      // A whole answer (an upstream that does not stream): told as the events a stream would have carried.
      if (isObject(json)) for (const ev of wholeAsEvents(json)) this.send(s, ev);
      this.kept(s, body, whole, isObject(json) ? json : null);
      return;
    }
    await this.relay(s, res, body, whole);
  }

  /** A streamed answer: each event's data as one message, the client's pace setting the stream's. */
  private relay(s: Session, res: IncomingMessage, body: Body, whole: boolean): Promise<void> {
    const splitter = new SseSplitter();
    let terminal: string | null = null;
    let final: Body | null = null;
    const done: unknown[] = [];
    let over = false;
    return new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        for (const ev of splitter.push(chunk)) {
          if (ev.data === '' || ev.data === '[DONE]') continue;
          // Events are passed as they came; only those that end the call or carry an output item are read.
          let name = ev.event;
          let data = ev.data;
          if (name === null || TERMINAL.has(name) || name === 'response.output_item.done') {
            const json = parseOr(ev.data);
            if (isObject(json)) {
              name = typeof json.type === 'string' ? json.type : name;
              if (name === 'response.output_item.done' && isObject(json.item)) done.push(json.item);
              if (name === 'response.completed' && isObject(json.response)) final = json.response;
              if (name === 'error' && typeof json.status !== 'number') data = JSON.stringify({ ...json, status: streamErrorStatus(json) });
            }
          }
          if (name !== null && TERMINAL.has(name)) terminal = name;
          this.send(s, data);
        }
        // A client slower than the stream: its answer is read no faster than it takes it.
        if (s.ws.bufferedAmount > HIGH_WATER && s.drained === null) {
          res.pause();
          s.drained = () => res.resume();
        }
      };
      res.on('data', onData);
      const end = () => {
        if (over) return;
        over = true;
        res.off('data', onData);
        if (terminal === null && s.ws.readyState === s.ws.OPEN) {
          // An HTTP client sees a stream end; a socket stays open, so the end is said.
          this.send(s, errorEvent(502, 'upstream', 'The response ended before it completed: the upstream stream broke off. Send the request again.', 'stream_incomplete'));
        }
        if (terminal === 'response.completed') this.kept(s, body, whole, final ?? { output: done }, done);
        else s.last = null;
        resolve();
      };
      res.once('end', end);
      res.once('error', end);
      res.once('close', end);
    });
  }

  /** After a completed call: what the next call on this socket may continue from, if only this socket can give it. */
  private kept(s: Session, body: Body, whole: boolean, response: Body | null, done: unknown[] = []): void {
    // A stored response is continued from the store, as over HTTP; one whose context came from
    // stored state is not known whole here, and cannot be continued here either.
    if (response === null || body.store !== false || !whole || typeof response.id !== 'string') {
      s.last = null;
      return;
    }
    const output = Array.isArray(response.output) && response.output.length > 0 ? response.output : done;
    s.last = { id: response.id, items: [...inputItems(body.input), ...output] };
  }

  /**
   * `generate: false`: the request is checked and kept for the next call to continue from, and
   * answered with an empty completed response. Nothing is sent upstream, reserved or charged,
   * so no ledger row is written; the call that continues it is metered whole.
   */
  private async warmUp(s: Session, body: Body, whole: boolean): Promise<void> {
    try {
      await this.d.handler.authenticate(s.headers);
    } catch (err) {
      s.last = null;
      return void this.send(s, errorOf(err));
    }
    let json = body;
    try {
      if (!whole) json = this.d.responses.resolve(s.agentId, { ...body, store: false }).json;
    } catch (err) {
      s.last = null;
      return void this.send(s, errorOf(err));
    }
    const invalid = route.wire.validate(route.endpoint, { ...json, stream: true });
    if (invalid) {
      s.last = null;
      return void this.send(s, errorEvent(400, 'invalid_request', invalid));
    }
    const id = `resp_${randomBytes(24).toString('hex')}`;
    const response = { id, object: 'response', created_at: Math.floor(Date.now() / 1000), status: 'in_progress', model: json.model, output: [], usage: null };
    this.send(s, JSON.stringify({ type: 'response.created', sequence_number: 0, response }));
    const usage = { input_tokens: 0, input_tokens_details: { cached_tokens: 0 }, output_tokens: 0, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 0 };
    this.send(s, JSON.stringify({ type: 'response.completed', sequence_number: 1, response: { ...response, status: 'completed', usage } }));
    s.last = { id, items: inputItems(json.input) };
  }

  /** The headers a call carries: the upgrade's credentials, the trace context the frame names, the rest of the upgrade's beta flags. */
  private callHeaders(s: Session, body: Body): OutgoingHttpHeaders {
    const h = s.headers;
    const out: OutgoingHttpHeaders = { host: h.host ?? 'localhost', 'content-type': 'application/json' };
    for (const k of ['authorization', 'x-api-key', 'traceparent', 'tracestate', 'user-agent'] as const) if (typeof h[k] === 'string') out[k] = h[k];
    // Codex's beta flag says "this is a socket": the upstream is called over HTTP, which it would not mean anything to.
    const beta =
      typeof h['openai-beta'] === 'string'
        ? h['openai-beta']
            .split(',')
            .map((b) => b.trim())
            .filter((b) => b !== '' && !b.startsWith('responses_websockets='))
        : [];
    if (beta.length > 0) out['openai-beta'] = beta.join(',');
    // A socket's calls carry their trace context in client_metadata (one socket, many traces).
    const meta = isObject(body.client_metadata) ? body.client_metadata : {};
    if (typeof meta.ws_request_header_traceparent === 'string') out.traceparent = meta.ws_request_header_traceparent;
    if (typeof meta.ws_request_header_tracestate === 'string') out.tracestate = meta.ws_request_header_tracestate;
    return out;
  }

  // ── sending, heartbeat, shutdown ─────────────────────────────────────────────────────

  private send(s: Session, text: string): void {
    if (s.ws.readyState === s.ws.OPEN) s.ws.send(text, { binary: false }, s.sent);
  }

  private ping(): void {
    for (const s of this.sessions) {
      if (!s.alive) {
        s.ws.terminate();
        continue;
      }
      s.alive = false;
      s.ws.ping();
    }
  }

  /**
   * Shutting down: no new socket or call; idle sockets are closed now, the others once their
   * call has ended, and any still open after STOP_GRACE_MS cut (its call settled as a hang-up).
   */
  stopping(): void {
    this.closing = true;
    for (const s of this.sessions) if (!s.busy) s.ws.close(1001, 'iron-cage is stopping');
    setTimeout(() => {
      for (const s of this.sessions) s.ws.terminate();
    }, STOP_GRACE_MS).unref();
  }

  close(): void {
    this.closing = true;
    clearInterval(this.heartbeat);
    for (const s of this.sessions) s.ws.terminate();
    void this.wss?.then((wss) => wss.close());
  }
}

const stopping = () => new GatewayError('unavailable', 'iron-cage is stopping: connect again.', true, 1);

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * The error event of a socket: the status an HTTP call would have had, and the wire's error
 * object. Codex reads `status` as an HTTP status (401, 402, 429 and 5xx each as it reads them
 * over HTTP); an event without one it does not read as an error.
 */
function errorEvent(status: number, kind: Parameters<typeof route.wire.error>[1], message: string, code?: string, headers?: Record<string, string>): string {
  const { error } = JSON.parse(route.wire.error(status, kind, message).body);
  return JSON.stringify({ type: 'error', status, error: code === undefined ? error : { ...error, code }, ...(headers && Object.keys(headers).length > 0 ? { headers } : {}) });
}

/** One of the gateway's refusals (a thrown error) as an error event. */
function errorOf(err: unknown): string {
  const a = errorAnswer(err);
  return errorEvent(a.status, a.kind, a.message, undefined, a.headers);
}

/**
 * The status a stream's own `error` event is read by on a socket, where a client reads no
 * HTTP status (Codex ignores an error event without one and waits out its idle timeout): 400
 * for one that refuses the request (the cage's block, a provider's invalid request), which ends
 * the turn; 500 for a provider failing mid-stream, which a client may try again.
 */
function streamErrorStatus(ev: Body): number {
  const error = isObject(ev.error) ? ev.error : ev;
  return error.type === 'invalid_request_error' ? 400 : 500;
}

/** The headers of an HTTP error answer a client acts on: when to come back, whether to, what it cost. */
const TOLD = ['retry-after', 'x-should-retry', 'x-iron-cage-cost-usd'];

/** An HTTP error answer (the wire's JSON body) as an error event. */
function errorFrom(status: number, json: unknown, headers: IncomingHttpHeaders): string {
  const told: Record<string, string> = {};
  for (const k of TOLD) if (typeof headers[k] === 'string') told[k] = headers[k];
  const error = isObject(json) && isObject(json.error) ? json.error : { message: `iron-cage answered ${status}`, type: 'server_error', param: null, code: null };
  return JSON.stringify({ type: 'error', status, error, ...(Object.keys(told).length > 0 ? { headers: told } : {}) });
}

/** A whole response object as the events a stream of it ends with: its items, then its completion. */
function wholeAsEvents(r: Body): string[] {
  const output = Array.isArray(r.output) ? r.output : [];
  let seq = 0;
  const out = [JSON.stringify({ type: 'response.created', sequence_number: seq++, response: { ...r, status: 'in_progress', output: [] } })];
  output.forEach((item, output_index) => {
    out.push(JSON.stringify({ type: 'response.output_item.added', sequence_number: seq++, output_index, item }));
    out.push(JSON.stringify({ type: 'response.output_item.done', sequence_number: seq++, output_index, item }));
  });
  const last = r.status === 'incomplete' ? 'response.incomplete' : r.status === 'failed' ? 'response.failed' : 'response.completed';
  out.push(JSON.stringify({ type: last, sequence_number: seq, response: r }));
  return out;
}
