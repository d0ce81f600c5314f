import { afterAll, afterEach, beforeAll } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { startTestRuntime, type TestRuntime } from './runtime.js';

export interface MockReply {
  status?: number;
  content?: string;
  usage?: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens: number } } | null;
  headers?: Record<string, string>;
  /** For errors: the raw body. */
  body?: unknown;
  /** Hold the answer this long (timeouts). */
  delayMs?: number;
  /** Stream the content in pieces of this many characters (default: word by word). */
  pieceChars?: number;
  /** Send finish_reason with the last piece of text, as vLLM and others do, not in a chunk of its own. */
  finishWithLastPiece?: boolean;
  /** Streams: after the first piece of text, wait for this before sending the rest. */
  holdAfterFirst?: Promise<void>;
  /** Answer with one call of a tool `lookup` whose arguments are this JSON text (streamed in pieces of `pieceChars`, or whole). */
  toolArguments?: string;
}

/**
 * A stand-in for a real OpenAI-compatible provider on loopback: what iron-cage sends it is
 * recorded, and what it answers is scripted per test. (The one fake allowed: the LLM upstream.)
 */
export class MockUpstream {
  readonly requests: Array<{ path: string; headers: IncomingMessage['headers']; body: any }> = [];
  next: (body: any, n: number) => MockReply = () => ({ content: 'ok', usage: { prompt_tokens: 5, completion_tokens: 2 } });
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const c of req) raw += c;
    const body = raw ? JSON.parse(raw) : null;
    this.requests.push({ path: req.url ?? '', headers: req.headers, body });
    const r = this.next(body, this.requests.length);
    if (r.delayMs) await new Promise((x) => setTimeout(x, r.delayMs));
    if (res.destroyed) return;
    const status = r.status ?? 200;
    if (status >= 400 || r.body !== undefined) {
      res.writeHead(status, { 'content-type': 'application/json', ...r.headers }).end(JSON.stringify(r.body ?? { error: { message: 'mock failure', type: 'server_error', param: null, code: null } }));
      return;
    }
    const content = r.content ?? '';
    const usage = r.usage === null ? undefined : { ...(r.usage ?? { prompt_tokens: 5, completion_tokens: 2 }), total_tokens: 0 };
    if (body?.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', ...r.headers });
      const base = { id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1, model: body.model };
      res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })}\n\n`);
      const split = (text: string) => (r.pieceChars ? (text.match(new RegExp(`[\\s\\S]{1,${r.pieceChars}}`, 'g')) ?? []) : (text.match(/\S+\s*/g) ?? []));
      if (r.toolArguments !== undefined) {
        const call = (args: string, first: boolean) => ({ index: 0, ...(first ? { id: 'call_mock', type: 'function' } : {}), function: { ...(first ? { name: 'lookup' } : {}), arguments: args } });
        res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { tool_calls: [call('', true)] }, finish_reason: null }] })}\n\n`);
        for (const piece of split(r.toolArguments)) res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { tool_calls: [call(piece, false)] }, finish_reason: null }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] })}\n\n`);
        if (body.stream_options?.include_usage && usage) res.write(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
        res.end('data: [DONE]\n\n');
        return;
      }
      const pieces = split(content);
      for (const [i, word] of pieces.entries()) {
        const last = r.finishWithLastPiece && i === pieces.length - 1;
        res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: word }, finish_reason: last ? 'stop' : null }] })}\n\n`);
        if (i === 0 && r.holdAfterFirst) await r.holdAfterFirst;
      }
      if (!r.finishWithLastPiece) res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
      if (body.stream_options?.include_usage && usage) res.write(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req-mock', ...r.headers }).end(
      JSON.stringify({
        id: 'chatcmpl-mock',
        object: 'chat.completion',
        created: 1,
        model: body?.model,
        choices: [
          r.toolArguments === undefined
            ? { index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }
            : {
                index: 0,
                message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_mock', type: 'function', function: { name: 'lookup', arguments: r.toolArguments } }] },
                finish_reason: 'tool_calls',
              },
        ],
        ...(usage ? { usage } : {}),
      }),
    );
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.closeAllConnections();
      this.server.close(() => r());
    });
  }
}

/**
 * An upstream whose answer is whatever raw bytes a test scripts (`answer`), for what
 * MockUpstream cannot say: other wires' events, shapes we do not model, bodies that are not
 * JSON. The request path is ignored, so one serves as the OpenAI and the Anthropic provider.
 */
export class RawUpstream {
  /** `body`: the request parsed, or null when it was not JSON. */
  answer: (res: ServerResponse, body: any) => void = (res) => res.end();
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer(async (req, res) => {
      let text = '';
      for await (const c of req) text += c;
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {
        /* not JSON: the script gets null */
      }
      this.answer(res, body);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
    return this;
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.closeAllConnections();
      this.server.close(() => r());
    });
  }
}

/**
 * A runtime whose OpenAI and Anthropic providers are both `raw`, and an agent token for it.
 *
 * @example
 * const raw = await new RawUpstream().start();
 * const { t, token } = await rawGateway(raw, 'shapes');
 */
export async function rawGateway(raw: RawUpstream, name: string): Promise<{ t: TestRuntime; token: string }> {
  const gateway: Config['gateway'] = {
    ...DEFAULTS.gateway,
    providers: { ...DEFAULTS.gateway.providers, openai: { baseUrl: raw.url, apiKey: 'sk-x', timeoutMs: 2000 }, anthropic: { baseUrl: raw.url, apiKey: 'sk-a', timeoutMs: 2000 } },
  };
  const t = await startTestRuntime({ config: { gateway } });
  const r = await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name, budgetUsd: 5 }) });
  return { t, token: ((await r.json()) as { token: string }).token };
}

/**
 * A test file's scripted gateway: RawUpstream and rawGateway started before its tests and
 * stopped after, the script reset to an empty answer after each test, and `post` to its /v1.
 *
 * @example
 * const gw = rawGatewaySuite('shapes');
 * gw.raw.answer = (res) => res.end('{}');
 * const r = await gw.post('/chat/completions', { model: 'gpt-4o', messages: [] });
 */
export function rawGatewaySuite(name: string) {
  const raw = new RawUpstream();
  const gw = {
    raw,
    t: undefined as unknown as TestRuntime,
    token: '',
    post: (path: string, body: unknown) =>
      fetch(`${gw.t.rt.url}/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${gw.token}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify(body),
      }),
  };
  beforeAll(async () => {
    await raw.start();
    Object.assign(gw, await rawGateway(raw, name));
  });
  afterAll(async () => {
    await gw.t?.stop();
    await raw.close();
  });
  afterEach(() => {
    raw.answer = (res) => res.end();
  });
  return gw;
}
