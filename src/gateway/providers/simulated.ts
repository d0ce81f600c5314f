import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { countPromptTokens, countTextTokens } from '../../domain/budget/index.js';
import { WIRE_OF } from '../wire/wires.js';
import type { Provider, UpstreamCall, UpstreamResponse } from './types.js';
import { anthropicStream, anthropicWhole } from './sim/anthropic.js';
import { fnv1a, generate } from './sim/generate.js';
import { openaiStream, openaiWhole } from './sim/openai.js';
import { anyModel, modelRefusal, type ModelKind } from './sim/catalog.js';
import { safeJson, simRequest } from './sim/request.js';
import { simulateResponses } from './sim/responses.js';
import { scripted } from './sim/script.js';
import type { SimScript } from '../../config/index.js';

export interface SimulatedOptions {
  latencyMs: number;
  chunkDelayMs: number;
  failures: Array<{ fromCall: number; count: number | null; status: 429 | 500 | 502 | 503 | 'timeout' }>;
  /** Turns to answer with instead of inventing them (`providers.simulated.script`). */
  script?: SimScript | null;
}

function embedding(input: string, dims: number): number[] {
  let seed = fnv1a(input) || 1;
  const v = new Array<number>(dims);
  let sum = 0;
  for (let i = 0; i < dims; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    const x = ((seed >>> 0) / 0xffffffff) * 2 - 1;
    v[i] = x;
    sum += x * x;
  }
  const norm = Math.sqrt(sum) || 1;
  for (let i = 0; i < dims; i++) v[i] = v[i]! / norm;
  return v;
}

/** Embeddings written between two turns of the event loop: a call of 2,048 inputs must not stall the process (it serves every agent and the dashboard). */
const EMBEDDINGS_PER_TURN = 16;

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

  /** `kindOf`: the models it has (`simulatedCatalog`); one it has not is refused as a provider refuses it. */
  constructor(
    private readonly o: SimulatedOptions,
    private readonly kindOf: (model: string) => ModelKind = anyModel,
  ) {}

  async call(c: UpstreamCall): Promise<UpstreamResponse> {
    const n = ++this.calls;
    if (this.o.latencyMs > 0) await sleep(this.o.latencyMs, c.signal);
    const fault = this.o.failures.find((f) => n >= f.fromCall && (f.count === null || n < f.fromCall + f.count));
    if (fault) return this.fail(fault.status, c);
    if (c.endpoint === 'models') return json(200, { object: 'list', data: SIMULATED_MODELS.map((id) => ({ id, object: 'model', created: 0, owned_by: 'iron-cage-simulated' })) });
    const body = c.json ?? {};
    const model = String(body.model ?? 'gpt-4o-mini');
    // Unique across restarts on the same state file: a Responses answer's ids (resp_, msg_, fc_) are kept and resolved later.
    const id = `sim${(++this.seq).toString(36)}${randomBytes(10).toString('hex')}`;
    const endpoint = c.endpoint;
    const refused = modelRefusal(c, model, this.kindOf(model));
    if (refused) return json(refused.status, refused.body);
    if (endpoint === 'embeddings') return this.embeddings(body, model);
    if (endpoint === 'count_tokens') return json(404, { type: 'error', error: { type: 'not_found_error', message: 'The simulated provider does not count tokens: the gateway does.' } });
    // Usage reports the prompt as the budget counts it: a reservation is exact against it.
    const prompt = WIRE_OF[endpoint].prompt(endpoint, body);
    const promptTokens = countPromptTokens(model, prompt).tokens;
    const request = simRequest(endpoint, body, model, c.body ?? '', prompt);
    // The script's turn where it has one for this request, else an answer invented from the prompt.
    const g = (this.o.script && scripted(this.o.script, request)) || generate(request);
    if (endpoint === 'responses') {
      const r = simulateResponses(body, model, g.choices[0]!, promptTokens, id, c.stream);
      return 'events' in r ? this.sse(r.events, c.signal) : json(200, r.json);
    }
    if (endpoint === 'messages') {
      const meta = { id, model, inputTokens: promptTokens };
      return c.stream ? this.sse(anthropicStream(meta, g.choices[0]!), c.signal) : json(200, anthropicWhole(meta, g.choices[0]!));
    }
    const isChat = endpoint === 'chat';
    const meta = { id, model, created: Math.floor(Date.now() / 1000), promptTokens };
    if (!c.stream) return json(200, openaiWhole(isChat, meta, g));
    const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    return this.sse(openaiStream(isChat, meta, g, includeUsage), c.signal);
  }

  /** The answer is written as it is computed, a few vectors a turn of the event loop, like a provider's body arriving. */
  private embeddings(body: Record<string, any>, model: string): UpstreamResponse {
    const inputs: string[] = Array.isArray(body.input) ? body.input.map((x: unknown) => (typeof x === 'string' ? x : safeJson(x))) : [String(body.input)];
    const dims = typeof body.dimensions === 'number' && body.dimensions > 0 ? Math.min(body.dimensions, 3072) : 1536;
    const base64 = body.encoding_format === 'base64';
    async function* gen() {
      let tokens = 0;
      yield Buffer.from('{"object":"list","data":[');
      for (const [index, input] of inputs.entries()) {
        const v = embedding(input, dims);
        tokens += countTextTokens(input, model);
        yield Buffer.from(`${index ? ',' : ''}${JSON.stringify({ object: 'embedding', index, embedding: base64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v })}`);
        if (index % EMBEDDINGS_PER_TURN === EMBEDDINGS_PER_TURN - 1) await new Promise((r) => setImmediate(r));
      }
      yield Buffer.from(`],"model":${JSON.stringify(model)},"usage":${JSON.stringify({ prompt_tokens: tokens, total_tokens: tokens })}}`);
    }
    return { status: 200, headers: { 'content-type': 'application/json' }, body: Readable.from(gen(), { objectMode: false }) };
  }

  private sse(events: string[], signal?: AbortSignal): UpstreamResponse {
    const delay = this.o.chunkDelayMs;
    async function* gen() {
      for (let i = 0; i < events.length; i++) {
        if (signal?.aborted) return;
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

  credentials(): string[] {
    return [];
  }

  async close(): Promise<void> {}
}

const SIMULATED_MODELS = ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4', 'gpt-3.5-turbo', 'text-embedding-3-small', 'claude-3-5-sonnet-latest', 'claude-3-5-haiku-latest'];

function json(status: number, body: unknown): UpstreamResponse {
  const text = JSON.stringify(body);
  return { status, headers: { 'content-type': 'application/json' }, body: Readable.from([Buffer.from(text)]) };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
