import { Readable } from 'node:stream';
import { countPromptTokens, countTextTokens } from '../../budget/index.js';
import { formatSse } from '../sse.js';
import type { Provider, UpstreamCall, UpstreamResponse } from './types.js';
import { fnv1a, generate, pieces } from './sim/generate.js';
import { simulateResponses } from './sim/responses.js';
import type { SimRequest, SimTurn } from './sim/types.js';

export interface SimulatedOptions {
  latencyMs: number;
  chunkDelayMs: number;
  failures: Array<{ fromCall: number; count: number | null; status: 429 | 500 | 502 | 503 | 'timeout' }>;
}

function partText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p === 'string' ? p : typeof p?.text === 'string' ? p.text : '')).join('\n');
  return '';
}

/** A chat, completions or messages body as the generator's wire-neutral request. */
function simRequest(body: Record<string, any>, model: string): SimRequest {
  const turns: SimTurn[] = [];
  if (typeof body.prompt === 'string') turns.push({ role: 'user', text: body.prompt });
  else if (Array.isArray(body.prompt)) turns.push({ role: 'user', text: body.prompt.map(String).join('\n') });
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    const role = m?.role === 'assistant' || m?.role === 'system' || m?.role === 'tool' ? m.role : 'user';
    turns.push({ role, text: partText(m?.content) });
  }
  const maxTokens = [body.max_completion_tokens, body.max_tokens].find((v) => typeof v === 'number') ?? null;
  return {
    model,
    turns,
    tools: [],
    toolChoice: 'auto',
    parallelToolCalls: true,
    format: { type: 'text' },
    n: 1,
    logprobs: null,
    maxTokens: maxTokens as number | null,
    seed: JSON.stringify(body.messages ?? body.prompt ?? ''),
  };
}

function embedding(input: string, dims: number): number[] {
  let seed = fnv1a(input) || 1;
  const v: number[] = [];
  for (let i = 0; i < dims; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    v.push(((seed >>> 0) / 0xffffffff) * 2 - 1);
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

/**
 * The built-in upstream: OpenAI- and Anthropic-shaped answers derived from the prompt, real
 * token counts in `usage`, true streaming, configurable latency and injected failures. It
 * produces bytes exactly as a provider would, so the gateway treats it like any other.
 */
export class SimulatedProvider implements Provider {
  readonly name = 'simulated';
  readonly real = false;
  private calls = 0;
  private seq = 0;

  constructor(private readonly o: SimulatedOptions) {}

  async call(c: UpstreamCall): Promise<UpstreamResponse> {
    const n = ++this.calls;
    if (this.o.latencyMs > 0) await sleep(this.o.latencyMs, c.signal);
    const fault = this.o.failures.find((f) => n >= f.fromCall && (f.count === null || n < f.fromCall + f.count));
    if (fault) return this.fail(fault.status, c);
    if (c.endpoint === 'models') return json(200, { object: 'list', data: SIMULATED_MODELS.map((id) => ({ id, object: 'model', created: 0, owned_by: 'iron-cage-simulated' })) });
    const body = c.json ?? {};
    const model = String(body.model ?? 'gpt-4o-mini');
    const id = `sim-${(++this.seq).toString(36)}-${fnv1a(JSON.stringify(body)).toString(36)}`;
    if (c.endpoint === 'embeddings') return this.embeddings(body, model);
    if (c.endpoint === 'responses') return ((r) => ('events' in r ? this.sse(r.events, c.signal) : json(200, r.json)))(simulateResponses(body, model, id, c.stream));
    const choice0 = generate(simRequest(body, model)).choices[0]!;
    const { text, completionTokens } = choice0;
    const cut = choice0.finish === 'length';
    const promptTokens = countPromptTokens(model, body as never).tokens;
    if (c.endpoint === 'messages') {
      return c.stream ? this.anthropicStream(id, model, text, cut, promptTokens, completionTokens, c.signal) : json(200, anthropicMessage(id, model, text, cut, promptTokens, completionTokens));
    }
    const created = Math.floor(Date.now() / 1000);
    const isChat = c.endpoint === 'chat';
    const finish = cut ? 'length' : 'stop';
    if (!c.stream) {
      const choice = isChat ? { index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finish } : { index: 0, text, logprobs: null, finish_reason: finish };
      return json(200, {
        id: `${isChat ? 'chatcmpl' : 'cmpl'}-${id}`,
        object: isChat ? 'chat.completion' : 'text_completion',
        created,
        model,
        choices: [choice],
        usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
        system_fingerprint: null,
      });
    }
    const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    const base = { id: `${isChat ? 'chatcmpl' : 'cmpl'}-${id}`, object: isChat ? 'chat.completion.chunk' : 'text_completion', created, model, system_fingerprint: null };
    const events: string[] = [];
    const chunk = (choice: object, extra: object = {}) => formatSse(JSON.stringify({ ...base, choices: [choice], ...extra }));
    if (isChat) events.push(chunk({ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }));
    for (const p of pieces(text)) events.push(chunk(isChat ? { index: 0, delta: { content: p }, logprobs: null, finish_reason: null } : { index: 0, text: p, logprobs: null, finish_reason: null }));
    events.push(chunk(isChat ? { index: 0, delta: {}, logprobs: null, finish_reason: finish } : { index: 0, text: '', logprobs: null, finish_reason: finish }));
    if (includeUsage) events.push(formatSse(JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens } })));
    events.push('data: [DONE]\n\n');
    return this.sse(events, c.signal);
  }

  private embeddings(body: Record<string, any>, model: string): UpstreamResponse {
    const inputs: string[] = Array.isArray(body.input) ? body.input.map((x: unknown) => (typeof x === 'string' ? x : JSON.stringify(x))) : [String(body.input)];
    const dims = typeof body.dimensions === 'number' && body.dimensions > 0 ? Math.min(body.dimensions, 3072) : 1536;
    const base64 = body.encoding_format === 'base64';
    const data = inputs.map((input, index) => {
      const v = embedding(input, dims);
      return { object: 'embedding', index, embedding: base64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v };
    });
    const tokens = inputs.reduce((n, s) => n + countTextTokens(s, model), 0);
    return json(200, { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
  }

  private anthropicStream(id: string, model: string, text: string, cut: boolean, input: number, output: number, signal: AbortSignal): UpstreamResponse {
    const ev = (type: string, data: object) => formatSse(JSON.stringify({ type, ...data }), type);
    const events = [
      ev('message_start', { message: { ...anthropicMessage(id, model, '', false, input, 1), content: [], stop_reason: null } }),
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      ev('ping', {}),
      ...pieces(text).map((p) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: p } })),
      ev('content_block_stop', { index: 0 }),
      ev('message_delta', { delta: { stop_reason: cut ? 'max_tokens' : 'end_turn', stop_sequence: null }, usage: { output_tokens: output } }),
      ev('message_stop', {}),
    ];
    return this.sse(events, signal);
  }

  private sse(events: string[], signal: AbortSignal): UpstreamResponse {
    const delay = this.o.chunkDelayMs;
    async function* gen() {
      for (let i = 0; i < events.length; i++) {
        if (signal.aborted) return;
        yield Buffer.from(events[i]!);
        if (i < events.length - 1) await (delay > 0 ? sleep(delay, signal).catch(() => undefined) : new Promise((r) => setImmediate(r)));
      }
    }
    return { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' }, body: Readable.from(gen(), { objectMode: false }) };
  }

  private async fail(status: 429 | 500 | 502 | 503 | 'timeout', c: UpstreamCall): Promise<UpstreamResponse> {
    if (status === 'timeout') {
      // Hang like a stuck upstream; the gateway's timeout (or the client) ends it.
      await sleep(24 * 3600 * 1000, c.signal);
      throw Object.assign(new Error('simulated upstream timed out'), { code: 'UND_ERR_HEADERS_TIMEOUT' });
    }
    const message = status === 429 ? 'Rate limit reached (simulated)' : 'The server had an error while processing your request (simulated)';
    const body =
      c.endpoint === 'messages'
        ? { type: 'error', error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message } }
        : { error: { message, type: status === 429 ? 'rate_limit_error' : 'server_error', param: null, code: null } };
    const r = json(status, body);
    if (status === 429) r.headers['retry-after'] = '0';
    return r;
  }

  async close(): Promise<void> {}
}

const SIMULATED_MODELS = ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4', 'gpt-3.5-turbo', 'text-embedding-3-small', 'claude-3-5-sonnet-latest', 'claude-3-5-haiku-latest'];

function anthropicMessage(id: string, model: string, text: string, cut: boolean, input: number, output: number) {
  return {
    id: `msg_${id}`,
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text }],
    stop_reason: cut ? 'max_tokens' : 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: input, output_tokens: output },
  };
}

function json(status: number, body: unknown): UpstreamResponse {
  const text = JSON.stringify(body);
  return { status, headers: { 'content-type': 'application/json' }, body: Readable.from([Buffer.from(text)]) };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
