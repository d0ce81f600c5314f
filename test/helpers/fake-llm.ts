import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { bodyOf, serve, type TestServer } from './http.js';
import { agentToken, startTestRuntime, type TestRuntime } from './runtime.js';

/** One request the fake received, and what it billed for it. */
export interface LlmRequest {
  /** 1 for the first request the fake received. */
  n: number;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body parsed, or null when it was not JSON. */
  body: any;
  /** The usage block it answered with: what it billed. Null when it sent none (errors, raw answers). */
  billed: Record<string, unknown> | null;
}

/**
 * How the fake answers one request. Everything is optional: `{}` is a 200 in the request's own
 * wire (chat, completions, embeddings, Anthropic messages, Responses; whole or streamed as asked)
 * saying 'ok' and billing the wire's default usage.
 */
export interface Answer {
  /** The assistant's text. Default 'ok'. */
  text?: string;
  /** Streams: the text in exactly these pieces (default: word by word, or `pieceChars` at a time). */
  pieces?: string[];
  pieceChars?: number;
  /** The usage block, in the wire's own names, sent exactly as given (a count may be left out); null sends none. */
  usage?: Record<string, unknown> | null;
  /** Anthropic streams: message_start's usage (message_delta carries `usage`). Default {}. */
  startUsage?: Record<string, unknown>;
  /** Answer this status with `body` (default: a server error in the wire's shape) instead of text. */
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Chat streams: finish_reason on the last piece, not in a chunk of its own (vLLM and others do). */
  finishWithLastPiece?: boolean;
  /** Responses streams: the text only in the done events, no deltas. */
  noDeltas?: boolean;
  /** Streams: after `holdAt` pieces (default 1), wait for this before sending the rest. */
  hold?: Promise<unknown>;
  holdAt?: number;
  /** Answer only once this has settled. */
  after?: Promise<unknown>;
  /** Never answer: the caller gives up (its timeout, a hang-up) or the fake closes. */
  hang?: boolean;
  /** Chat: answer with one call of a tool `lookup` whose arguments are this JSON text (streamed in `pieceChars` or word pieces) instead of text. */
  toolArguments?: string;
  /** Write the answer yourself: bytes no wire models (other shapes, bodies that are not JSON, broken streams). */
  raw?: (res: ServerResponse, req: LlmRequest) => void;
}

type Wire = 'chat' | 'completions' | 'embeddings' | 'messages' | 'count_tokens' | 'responses';

const wireOf = (path: string): Wire => {
  const p = path.split('?')[0]!;
  if (p.endsWith('/chat/completions')) return 'chat';
  if (p.endsWith('/completions')) return 'completions';
  if (p.endsWith('/embeddings')) return 'embeddings';
  if (p.endsWith('/messages/count_tokens')) return 'count_tokens';
  if (p.endsWith('/messages')) return 'messages';
  return 'responses';
};

/** What each wire bills when a test does not say. */
const DEFAULT_USAGE: Record<Wire, Record<string, unknown>> = {
  chat: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  completions: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  embeddings: { prompt_tokens: 5, total_tokens: 5 },
  messages: { input_tokens: 5, output_tokens: 2 },
  count_tokens: {},
  responses: { input_tokens: 5, output_tokens: 2, total_tokens: 7 },
};

const piecesOf = (a: Answer, text: string): string[] => a.pieces ?? (a.pieceChars ? (text.match(new RegExp(`[\\s\\S]{1,${a.pieceChars}}`, 'g')) ?? []) : (text.match(/\S+\s*/g) ?? []));

/**
 * A raw answer: a Server-Sent Events stream of these events (`[name, data]`, data as JSON unless
 * a string), then the end.
 *
 * @example
 * llm.raw(sse([[null, { choices: [] }], [null, '[DONE]']]));
 */
export const sse =
  (events: Array<[string | null, unknown]>) =>
  (res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const [event, data] of events) frame(res, event, data);
    res.end();
  };

/** A raw answer: `body` as JSON with `status`. */
export const json =
  (body: unknown, status = 200) =>
  (res: ServerResponse): void =>
    sendJson(res, status, body);

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function frame(res: ServerResponse, event: string | null, data: unknown): void {
  res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
}

/**
 * The one fake LLM provider: an OpenAI- and Anthropic-compatible upstream on loopback (the one fake
 * the design allows, since this machine has no internet). It records what iron-cage sends it, and
 * answers what each test scripts: text and usage in any wire, held or cut streams, errors, or raw
 * bytes. Each request records the usage it billed, so a test can hold the gateway's ledger to it.
 *
 * @example
 * const llm = await FakeLlm.start();
 * llm.answer({ text: 'fine', usage: { prompt_tokens: 400, completion_tokens: 600 } });
 * const t = await startTestRuntime({ config: { gateway: llm.gateway() } });
 * // ... calls through t ...
 * expect(llm.requests.at(-1)!.body.model).toBe('gpt-4');
 */
export class FakeLlm {
  readonly requests: LlmRequest[] = [];
  /** How the next request is answered; `answer()` sets it. */
  script: (req: LlmRequest) => Answer = () => ({});
  private server: TestServer | undefined;

  static async start(): Promise<FakeLlm> {
    return new FakeLlm().start();
  }

  async start(): Promise<this> {
    this.server = await serve((req, res) => void this.handle(req, res));
    return this;
  }

  /** The server's root: what Anthropic's base URL is (the provider adds /v1/messages). */
  get url(): string {
    return this.server!.url;
  }

  /** What OpenAI's base URL is (the provider adds /chat/completions and the rest). */
  get openaiUrl(): string {
    return `${this.url}/v1`;
  }

  /** Answer every request with `a` from now on (or, given a function, with what it returns for each). */
  answer(a: Answer | ((req: LlmRequest) => Answer)): void {
    this.script = typeof a === 'function' ? a : () => a;
  }

  /** Answer every request by writing the bytes yourself. */
  raw(write: (res: ServerResponse, req: LlmRequest) => void): void {
    this.answer({ raw: write });
  }

  /** Back to the default answer, with nothing recorded. */
  reset(): void {
    this.script = () => ({});
    this.requests.length = 0;
  }

  /** Requests received since `from` (an index into `requests`). */
  since(from: number): LlmRequest[] {
    return this.requests.slice(from);
  }

  /**
   * The gateway config with the OpenAI provider (and, with `anthropic`, the Anthropic one) served
   * by this fake, and `extra` over it.
   */
  gateway(o: { key?: string; timeoutMs?: number; anthropic?: boolean } = {}, extra: Partial<Config['gateway']> = {}): Config['gateway'] {
    const timeoutMs = o.timeoutMs ?? 5000;
    const providers = { ...DEFAULTS.gateway.providers, openai: { baseUrl: this.openaiUrl, apiKey: o.key ?? 'sk-fake', timeoutMs } };
    if (o.anthropic) providers.anthropic = { baseUrl: this.url, apiKey: o.key ?? 'sk-ant-fake', timeoutMs };
    return { ...DEFAULTS.gateway, providers, ...extra };
  }

  close(): Promise<void> {
    return this.server?.close() ?? Promise.resolve();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await bodyOf(req);
    let body: any = null;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON: the script gets null */
    }
    const seen: LlmRequest = { n: this.requests.length + 1, path: req.url ?? '', headers: req.headers, body, billed: null };
    this.requests.push(seen);
    const a = this.script(seen);
    if (a.hang) return;
    await a.after;
    if (res.destroyed) return;
    if (a.raw) return a.raw(res, seen);
    const wire = wireOf(seen.path);
    if ((a.status ?? 200) >= 400 || a.body !== undefined) {
      const failure =
        wire === 'messages' || wire === 'count_tokens'
          ? { type: 'error', error: { type: 'api_error', message: 'fake failure' } }
          : { error: { message: 'fake failure', type: 'server_error', param: null, code: null } };
      return sendJson(res, a.status ?? 200, a.body ?? failure, a.headers);
    }
    const usage = a.usage === undefined ? DEFAULT_USAGE[wire] : a.usage;
    seen.billed = usage;
    await WIRES[wire]({ a, res, body: body ?? {}, text: a.text ?? 'ok', usage });
  }
}

interface Turn {
  a: Answer;
  res: ServerResponse;
  body: any;
  text: string;
  usage: Record<string, unknown> | null;
}

/** Streams `pieces` as `event(piece)`, holding where asked. */
async function stream<T>(a: Answer, pieces: string[], event: (piece: string, i: number) => T, out: (e: T) => void): Promise<void> {
  for (const [i, piece] of pieces.entries()) {
    out(event(piece, i));
    if (i + 1 === (a.holdAt ?? 1)) await a.hold;
  }
}

const WIRES: Record<Wire, (t: Turn) => Promise<void> | void> = {
  async chat({ a, res, body, text, usage }) {
    const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model: body.model };
    const args = a.toolArguments;
    if (!body.stream) {
      const message =
        args === undefined
          ? { role: 'assistant', content: text }
          : { role: 'assistant', content: null, tool_calls: [{ id: 'call_fake', type: 'function', function: { name: 'lookup', arguments: args } }] };
      return sendJson(
        res,
        200,
        { ...base, object: 'chat.completion', choices: [{ index: 0, message, finish_reason: args === undefined ? 'stop' : 'tool_calls' }], ...(usage ? { usage } : {}) },
        a.headers,
      );
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', ...a.headers });
    frame(res, null, { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
    if (args !== undefined) {
      const call = (piece: string, first: boolean) => ({ index: 0, ...(first ? { id: 'call_fake', type: 'function' } : {}), function: { ...(first ? { name: 'lookup' } : {}), arguments: piece } });
      frame(res, null, { ...base, choices: [{ index: 0, delta: { tool_calls: [call('', true)] }, finish_reason: null }] });
      await stream(
        a,
        piecesOf(a, args),
        (p) => ({ ...base, choices: [{ index: 0, delta: { tool_calls: [call(p, false)] }, finish_reason: null }] }),
        (e) => frame(res, null, e),
      );
      frame(res, null, { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] });
      if (body.stream_options?.include_usage && usage) frame(res, null, { ...base, choices: [], usage });
      return void res.end('data: [DONE]\n\n');
    }
    const pieces = piecesOf(a, text);
    const last = (i: number) => (a.finishWithLastPiece && i === pieces.length - 1 ? 'stop' : null);
    await stream(
      a,
      pieces,
      (p, i) => ({ ...base, choices: [{ index: 0, delta: { content: p }, finish_reason: last(i) }] }),
      (e) => frame(res, null, e),
    );
    if (!a.finishWithLastPiece) frame(res, null, { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
    if (body.stream_options?.include_usage && usage) frame(res, null, { ...base, choices: [], usage });
    res.end('data: [DONE]\n\n');
  },

  async completions({ a, res, body, text, usage }) {
    const base = { id: 'cmpl-fake', object: 'text_completion', created: 1, model: body.model };
    if (!body.stream) return sendJson(res, 200, { ...base, choices: [{ index: 0, text, logprobs: null, finish_reason: 'stop' }], ...(usage ? { usage } : {}) }, a.headers);
    res.writeHead(200, { 'content-type': 'text/event-stream', ...a.headers });
    await stream(
      a,
      piecesOf(a, text),
      (p) => ({ ...base, choices: [{ index: 0, text: p, logprobs: null, finish_reason: null }] }),
      (e) => frame(res, null, e),
    );
    frame(res, null, { ...base, choices: [{ index: 0, text: '', logprobs: null, finish_reason: 'stop' }] });
    if (body.stream_options?.include_usage && usage) frame(res, null, { ...base, choices: [], usage });
    res.end('data: [DONE]\n\n');
  },

  embeddings({ a, res, body, usage }) {
    const inputs = Array.isArray(body.input) && typeof body.input[0] !== 'number' ? body.input : [body.input];
    const data = inputs.map((_: unknown, index: number) => ({ object: 'embedding', index, embedding: [0.1, 0.2] }));
    sendJson(res, 200, { object: 'list', data, model: body.model, ...(usage ? { usage } : {}) }, a.headers);
  },

  count_tokens({ a, res }) {
    sendJson(res, 200, { input_tokens: 5 }, a.headers);
  },

  async messages({ a, res, body, text, usage }) {
    const message = { id: 'msg_fake', type: 'message', role: 'assistant', model: body.model, stop_reason: 'end_turn', stop_sequence: null };
    if (!body.stream) return sendJson(res, 200, { ...message, content: [{ type: 'text', text }], ...(usage ? { usage } : {}) }, a.headers);
    res.writeHead(200, { 'content-type': 'text/event-stream', ...a.headers });
    const ev = (type: string, data: object) => frame(res, type, { type, ...data });
    ev('message_start', { message: { ...message, content: [], stop_reason: null, usage: a.startUsage ?? {} } });
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    await stream(
      a,
      piecesOf(a, text),
      (p) => ({ index: 0, delta: { type: 'text_delta', text: p } }),
      (e) => ev('content_block_delta', e),
    );
    ev('content_block_stop', { index: 0 });
    ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, ...(usage ? { usage } : {}) });
    ev('message_stop', {});
    res.end();
  },

  async responses({ a, res, body, text, usage }) {
    const part = { type: 'output_text', annotations: [], logprobs: [], text };
    const item = { id: 'msg_fake', type: 'message', status: 'completed', role: 'assistant', content: [part] };
    const response = (status: string, output: object[], u: object | null) => ({
      id: 'resp_fake',
      object: 'response',
      created_at: 1,
      status,
      model: body.model,
      output,
      usage: u,
      error: null,
      incomplete_details: null,
    });
    if (!body.stream) return sendJson(res, 200, { ...response('completed', [item], usage), output_text: text }, a.headers);
    res.writeHead(200, { 'content-type': 'text/event-stream', ...a.headers });
    let seq = 0;
    const ev = (type: string, data: object) => frame(res, type, { type, ...data, sequence_number: seq++ });
    const at = { item_id: 'msg_fake', output_index: 0, content_index: 0 };
    ev('response.created', { response: response('in_progress', [], null) });
    ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
    ev('response.content_part.added', { ...at, part: { ...part, text: '' } });
    const pieces = a.noDeltas ? [] : piecesOf(a, text);
    await stream(
      a,
      pieces,
      (delta) => ({ ...at, delta, logprobs: [] }),
      (e) => ev('response.output_text.delta', e),
    );
    ev('response.output_text.done', { ...at, text, logprobs: [] });
    ev('response.content_part.done', { ...at, part });
    ev('response.output_item.done', { output_index: 0, item });
    ev('response.completed', { response: response('completed', [item], usage) });
    res.end();
  },
};

/**
 * A FakeLlm for a test file: listening before its tests, closed after them, reset after each
 * test (the default answer, nothing recorded).
 *
 * @example
 * const llm = useFakeLlm();
 * it('...', async () => { llm.answer({ status: 503 }); ... });
 */
export function useFakeLlm(): FakeLlm {
  const llm = new FakeLlm();
  beforeAll(async () => {
    await llm.start();
  });
  afterAll(() => llm.close());
  afterEach(() => llm.reset());
  return llm;
}

/**
 * A test file's gateway on a FakeLlm serving both the OpenAI and the Anthropic provider, one
 * runtime and one agent token for all its tests, and `post` to its /v1.
 *
 * @example
 * const gw = fakeGatewaySuite('shapes');
 * gw.llm.raw((res) => res.end('{}'));
 * const r = await gw.post('/chat/completions', { model: 'gpt-4o', messages: [] });
 */
export function fakeGatewaySuite(name: string, config: Partial<Config> = {}) {
  const llm = useFakeLlm();
  const gw = {
    llm,
    t: undefined as unknown as TestRuntime,
    token: '',
    agentId: '',
    post: (path: string, body: unknown, init: RequestInit = {}) =>
      fetch(`${gw.t.rt.url}/v1${path}`, {
        method: 'POST',
        ...init,
        headers: { authorization: `Bearer ${gw.token}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...init.headers },
        body: JSON.stringify(body),
      }),
  };
  beforeAll(async () => {
    gw.t = await startTestRuntime({ config: { gateway: llm.gateway({ anthropic: true, timeoutMs: 2000 }), ...config } });
    Object.assign(gw, await agentToken(gw.t, { name }));
  });
  afterAll(async () => {
    await gw.t?.stop();
  });
  return gw;
}
