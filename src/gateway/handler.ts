import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { tokenFromHeaders, type TokenService } from '../auth/index.js';
import { countTextTokens, costOf } from '../budget/index.js';
import type { GatewayConfig } from '../config/gateway.js';
import { TERMINAL_STATUSES } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { CircuitBreaker, CircuitOpenError, errorKindOf, isRetryableOutcome, retry, retryAfterFromHeaders } from '../reliability/index.js';
import type { LlmRequestInput, LlmStore, StateManager } from '../state/index.js';
import type { OutputGuard, StreamGuard } from './guard.js';
import { BodyTooLargeError, collect, readBody, sendJson } from './io.js';
import type { Meter } from './meter.js';
import type { Provider, UpstreamResponse } from './providers/types.js';
import type { Router } from './router.js';
import { formatSse, SseSplitter, type SseEvent } from './sse.js';
import { anthropicWire } from './wire/anthropic.js';
import { openaiWire } from './wire/openai.js';
import { STATUS_OF, type Endpoint, type ErrorKind, type Usage, type Wire } from './wire/types.js';

const ROUTES: Record<string, { endpoint: Endpoint | 'models'; wire: Wire }> = {
  'POST /v1/chat/completions': { endpoint: 'chat', wire: openaiWire },
  'POST /v1/completions': { endpoint: 'completions', wire: openaiWire },
  'POST /v1/embeddings': { endpoint: 'embeddings', wire: openaiWire },
  'POST /v1/messages': { endpoint: 'messages', wire: anthropicWire },
  'GET /v1/models': { endpoint: 'models', wire: openaiWire },
};

// Agent headers a provider may need; everything else (its token above all) stays here.
const FORWARD_REQUEST_HEADERS = ['anthropic-version', 'anthropic-beta', 'openai-beta'];
const FORWARD_RESPONSE_HEADER = /^(x-request-id|request-id|openai-|anthropic-|x-ratelimit-|retry-after)/;
/** Streamed text kept for counting when the provider sends no usage; beyond this we estimate. */
const MAX_COUNTED_CHARS = 1_000_000;

/** A refusal in the caller's own wire format; `retry: false` tells the official SDKs not to retry. */
class GatewayError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly retry = true,
    readonly status = STATUS_OF[kind],
  ) {
    super(message);
  }
}

export interface HandlerDeps {
  state: StateManager;
  store: LlmStore;
  tokens: TokenService;
  meter: Meter;
  router: Router;
  breakers: Map<string, CircuitBreaker>;
  guard: OutputGuard;
  config: GatewayConfig;
  logger: Logger;
}

/** Prompt-cache parts of the usage, priced at their own rates. */
type Cache = Pick<Usage, 'cacheReadTokens' | 'cacheWriteTokens'>;

interface Call {
  t0: number;
  agentId: string;
  endpoint: Endpoint;
  wire: Wire;
  json: Record<string, unknown>;
  model: string;
  stream: boolean;
  provider: Provider;
  reservationId: number | null;
  reservedMicros: number;
  promptTokensEstimate: number;
  /** We asked the upstream for a usage chunk the agent did not ask for: hide it again. */
  hideUsageChunk: boolean;
  /** The agent's request bytes, while they still match `json`. */
  bodyText: string | null;
}

/** The LLM gateway's request path, on plain Node streams (no Request/Response objects). */
export class GatewayHandler {
  constructor(private readonly d: HandlerDeps) {}

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?', 1)[0]!;
    const route = ROUTES[`${req.method} ${path}`];
    const wire = route?.wire ?? (path.startsWith('/v1/messages') ? anthropicWire : openaiWire);
    this.run(req, res, route).catch((err: unknown) => this.fail(res, wire, err));
  };

  private fail(res: ServerResponse, wire: Wire, err: unknown): void {
    if (err instanceof GatewayError) {
      const { body } = wire.error(err.status, err.kind, err.message);
      sendJson(res, err.status, body, err.retry ? {} : { 'x-should-retry': 'false' });
      return;
    }
    if (err instanceof BodyTooLargeError) {
      sendJson(res, 413, wire.error(413, 'too_large', `Request body is larger than the gateway's limit of ${err.limit} bytes.`).body, { connection: 'close' });
      return;
    }
    this.d.logger.error({ err }, 'gateway request failed');
    sendJson(res, 500, wire.error(500, 'upstream', 'Iron Cage gateway internal error.').body);
  }

  private async run(req: IncomingMessage, res: ServerResponse, route: (typeof ROUTES)[string] | undefined): Promise<void> {
    const t0 = performance.now();
    if (!route) throw new GatewayError('not_found', `Unknown endpoint ${req.method} ${(req.url ?? '').split('?', 1)[0]}. The gateway serves /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models and /v1/messages.`);
    const { wire } = route;
    const agentId = await this.authenticate(req);
    if (route.endpoint === 'models') return this.models(res);

    const buf = await readBody(req, this.d.config.maxRequestBytes);
    let json: unknown;
    const text = buf.toString('utf8');
    try {
      json = JSON.parse(text);
    } catch {
      throw new GatewayError('invalid_request', 'We could not parse the JSON body of your request. The body must be valid JSON.');
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new GatewayError('invalid_request', 'The request body must be a JSON object.');
    const body = json as Record<string, unknown>;
    const invalid = wire.validate(route.endpoint, body);
    if (invalid) throw new GatewayError('invalid_request', invalid);
    const model = (body.model as string).trim();
    const resolved = this.d.router.resolve(model, wire.name);
    if (!resolved.ok) throw new GatewayError('invalid_request', resolved.message);

    const stream = body.stream === true && route.endpoint !== 'embeddings';
    const call: Call = {
      t0,
      agentId,
      endpoint: route.endpoint,
      wire,
      json: body,
      model,
      stream,
      provider: resolved.provider,
      reservationId: null,
      reservedMicros: 0,
      promptTokensEstimate: 0,
      hideUsageChunk: false,
      bodyText: text,
    };
    if (this.d.guard.prompt) this.protectPrompt(call);
    this.reserve(call);
    // The agent hanging up at any point aborts the upstream call and ends the stream.
    const client = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) client.abort();
    });
    try {
      const up = await this.callWithFallbacks(call, req, client.signal);
      if (up.status >= 400) return await this.upstreamError(call, up, res);
      if (stream) await this.streamResponse(call, up, res, client.signal);
      else await this.wholeResponse(call, up, res);
    } finally {
      // Any path that did not settle (a throw anywhere above) must not keep money reserved.
      if (call.reservationId !== null) this.d.meter.release(call.reservationId);
    }
  }

  /** The agent's own scoped token: Bearer (OpenAI SDK) or x-api-key (Anthropic SDK). */
  private async authenticate(req: IncomingMessage): Promise<string> {
    const token = tokenFromHeaders(req.headers.authorization, req.headers['x-api-key'] as string | undefined);
    if (!token) throw new GatewayError('auth', 'No API key provided. Use the agent token iron-cage gave you (OPENAI_API_KEY / ANTHROPIC_API_KEY).', false);
    let p = this.d.tokens.cached(token);
    if (!p) {
      try {
        p = await this.d.tokens.verify(token);
      } catch (e) {
        throw new GatewayError('auth', `Incorrect API key provided: ${(e as Error).message}.`, false);
      }
    }
    if (p.role !== 'agent' || !p.agentId) throw new GatewayError('permission', `LLM calls need an agent token (this is a ${p.role} token): each call is metered against an agent's budget.`, false);
    const agent = this.d.state.agentBrief(p.agentId);
    if (!agent) throw new GatewayError('auth', `Agent ${p.agentId} is not known to this iron-cage.`, false);
    if (agent.kind === 'supervised' && TERMINAL_STATUSES.has(agent.status)) throw new GatewayError('permission', `Agent ${p.agentId} has ${agent.status}; its token no longer makes calls.`, false);
    this.d.meter.ensure(p.agentId, agent.limitMicros);
    return p.agentId;
  }

  /** With `safety.redact_prompts`: PII in what the agent sends is replaced before it leaves. */
  private protectPrompt(call: Call): void {
    const guard = this.d.guard.prompt!.bind(this.d.guard);
    const ref = `${call.endpoint}:${call.model}:prompt`;
    let changed = false;
    const fix = (text: string): string => {
      const g = guard(call.agentId, ref, text);
      if (g.block) throw new GatewayError('blocked', g.block.replace('this response', 'this request'), false);
      if (g.text !== text) changed = true;
      return g.text;
    };
    const fixContent = (holder: Record<string, unknown>, key: string) => {
      const v = holder[key];
      if (typeof v === 'string') holder[key] = fix(v);
      else if (Array.isArray(v)) {
        v.forEach((part, i) => {
          if (typeof part === 'string') v[i] = fix(part);
          else if (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') (part as { text: string }).text = fix((part as { text: string }).text);
        });
      }
    };
    const j = call.json;
    if (Array.isArray(j.messages)) for (const m of j.messages) if (m && typeof m === 'object') fixContent(m as Record<string, unknown>, 'content');
    for (const k of ['system', 'prompt', 'input']) if (k in j) fixContent(j, k);
    if (changed) call.bodyText = null;
  }

  private reserve(call: Call): void {
    const est = this.d.meter.estimate(call.model, call.provider.name, call.json, call.agentId);
    const r = this.d.meter.reserve(call.agentId, est.costMicros, call.model);
    if (!r.ok) throw new GatewayError('budget', `Iron Cage: ${r.message}. Raise it with POST /api/agents/${call.agentId}/budget or on the dashboard.`, false);
    call.reservationId = r.reservationId;
    call.reservedMicros = est.costMicros;
    call.promptTokensEstimate = est.promptTokens;
  }

  /** The body to send upstream: the agent's own bytes unless we had to change something. */
  private upstreamBody(call: Call): { text: string; json: Record<string, unknown> } {
    let json = call.json;
    if (call.stream && call.wire.name === 'openai' && call.endpoint !== 'embeddings') {
      const opts = (json.stream_options ?? {}) as Record<string, unknown>;
      if (opts.include_usage !== true) {
        // The provider's usage is the truth; ask for it, and hide the extra chunk from the agent.
        json = { ...json, stream_options: { ...opts, include_usage: true } };
        call.hideUsageChunk = true;
      }
    }
    return { text: json === call.json && call.bodyText !== null ? call.bodyText : JSON.stringify(json), json };
  }

  /** The requested model, then the configured fallbacks, each through its provider's breaker. */
  private async callWithFallbacks(call: Call, req: IncomingMessage, clientSignal: AbortSignal): Promise<UpstreamResponse> {
    const chain = [call.model, ...(this.d.config.modelFallbacks[call.model] ?? [])];
    let lastError: unknown;
    for (let i = 0; i < chain.length; i++) {
      if (i > 0 && clientSignal.aborted) break;
      if (i > 0) {
        const next = chain[i]!;
        const resolved = this.d.router.resolve(next, call.wire.name);
        if (!resolved.ok) continue;
        this.d.state.record({
          agentId: call.agentId,
          type: 'llm.fallback',
          severity: 'warn',
          message: `Model ${call.model} failed (${describeFailure(lastError)}): falling back to ${next}`,
          data: { from: call.model, to: next, reason: describeFailure(lastError) },
        });
        this.d.meter.release(call.reservationId!);
        call.reservationId = null;
        call.model = next;
        call.json = { ...call.json, model: next };
        call.bodyText = null;
        call.provider = resolved.provider;
        this.reserve(call);
      }
      const outcome = await this.callProvider(call, req, clientSignal);
      if (outcome.ok && !(isRetryableOutcome({ status: outcome.value.status }) && i < chain.length - 1)) return outcome.value;
      if (outcome.ok) discard(outcome.value.body);
      lastError = outcome.ok ? { status: outcome.value.status } : outcome.error;
    }
    if (lastError instanceof CircuitOpenError) {
      throw new GatewayError('unavailable', `Provider ${call.provider.name} is failing and its circuit is open; retry in ${Math.ceil(lastError.retryAfterMs / 1000)}s.`);
    }
    if (errorKindOf(lastError) === 'timeout') throw new GatewayError('timeout', `The upstream provider ${call.provider.name} did not answer in time.`);
    if (errorKindOf(lastError) === 'aborted') throw new GatewayError('invalid_request', 'The client closed the request.');
    throw new GatewayError('upstream', `Could not reach the upstream provider ${call.provider.name}: ${describeFailure(lastError)}.`);
  }

  private async callProvider(call: Call, req: IncomingMessage, clientSignal: AbortSignal) {
    const breaker = this.breakerFor(call.provider.name);
    const headers: Record<string, string> = {};
    for (const h of FORWARD_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const body = this.upstreamBody(call);
    const timeoutMs = call.provider.name === 'anthropic' ? this.d.config.providers.anthropic.timeoutMs : this.d.config.providers.openai.timeoutMs;
    const { attempts, baseMs, maxMs } = this.d.config.retry;
    return retry(
      async () => {
        const acq = breaker.acquire();
        if (!acq.allowed) throw new CircuitOpenError(breaker.service, acq.reason, acq.retryAfterMs);
        // Real upstreams get undici's header and body timeouts; the in-process one gets ours.
        const attempt = call.provider.real ? null : new AbortController();
        const timer = attempt && setTimeout(() => attempt.abort(Object.assign(new Error('upstream timed out'), { name: 'TimeoutError' })), timeoutMs);
        const signal = attempt ? AbortSignal.any([clientSignal, attempt.signal]) : clientSignal;
        try {
          const r = await call.provider.call({ endpoint: call.endpoint, method: 'POST', body: body.text, json: body.json, stream: call.stream, headers, signal });
          breaker.recordOutcome(acq.permit, { status: r.status });
          return r;
        } catch (e) {
          const kind = attempt?.signal.aborted && !clientSignal.aborted ? 'timeout' : errorKindOf(e);
          breaker.recordOutcome(acq.permit, { error: kind });
          throw kind === 'timeout' && errorKindOf(e) !== 'timeout' ? Object.assign(new Error('upstream timed out'), { name: 'TimeoutError' }) : e;
        } finally {
          if (timer) clearTimeout(timer);
        }
      },
      {
        attempts,
        baseMs,
        maxMs,
        retryable: (s) =>
          !clientSignal.aborted &&
          (s.ok ? isRetryableOutcome({ status: s.value.status }) : !(s.error instanceof CircuitOpenError) && isRetryableOutcome({ error: errorKindOf(s.error) })),
        retryAfterMs: (s) => (s.ok ? retryAfterFromHeaders(s.value.headers, Date.now()) : null),
        onRetry: ({ settled }) => {
          if (settled.ok) discard(settled.value.body);
        },
      },
    );
  }

  private breakerFor(name: string): CircuitBreaker {
    let b = this.d.breakers.get(name);
    if (!b) {
      b = new CircuitBreaker(name);
      this.d.breakers.set(name, b);
    }
    return b;
  }

  private row(call: Call, status: LlmRequestInput['status'], httpStatus: number, promptTokens: number, completionTokens: number, usageSource: 'provider' | 'estimate', redactions: number, firstByteMs: number | null, error: string | null): LlmRequestInput {
    return {
      agentId: call.agentId,
      endpoint: call.endpoint,
      provider: call.provider.name,
      model: call.model,
      stream: call.stream,
      status,
      httpStatus,
      promptTokens,
      completionTokens,
      costMicros: 0,
      reservedMicros: call.reservedMicros,
      usageSource,
      latencyMs: performance.now() - call.t0,
      firstByteMs,
      redactions,
      error,
    };
  }

  private cost(call: Call, promptTokens: number, completionTokens: number, cache: Cache): number {
    const price = this.d.meter.book.lookup(call.model, call.provider.name);
    return costOf(price.schedule, { inputTokens: promptTokens, outputTokens: completionTokens, cacheReadTokens: cache.cacheReadTokens, cacheWriteTokens: cache.cacheWriteTokens });
  }

  /** Settle and record; the reservation is consumed. Written before the response is finished. */
  private async settle(call: Call, row: LlmRequestInput, pendingId: number | null = null, cache: Cache = {}): Promise<number> {
    // Whatever tokens the provider produced are owed, whatever became of the response.
    const micros = row.promptTokens + row.completionTokens === 0 ? 0 : this.cost(call, row.promptTokens, row.completionTokens, cache);
    const rid = call.reservationId;
    call.reservationId = null;
    await this.d.meter.settle(rid, call.agentId, micros, row, pendingId);
    return micros;
  }

  private passHeaders(up: UpstreamResponse): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && FORWARD_RESPONSE_HEADER.test(k)) out[k] = Array.isArray(v) ? v.join(', ') : v;
    return out;
  }

  private async upstreamError(call: Call, up: UpstreamResponse, res: ServerResponse): Promise<void> {
    const raw = await collect(up.body, 1024 * 1024).catch(() => Buffer.from(''));
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      /* not JSON: wrap it below */
    }
    const message = extractMessage(parsed) ?? `upstream answered ${up.status}`;
    await this.settle(call, this.row(call, 'error', up.status, 0, 0, 'estimate', 0, null, message.slice(0, 500)));
    // The provider's own error body, in its own shape, so the SDK raises its usual exception.
    const body = parsed !== null ? raw : call.wire.error(up.status, up.status === 429 ? 'rate_limit' : 'upstream', message).body;
    sendJson(res, up.status, body, this.passHeaders(up));
  }

  private async wholeResponse(call: Call, up: UpstreamResponse, res: ServerResponse): Promise<void> {
    let raw: Buffer;
    try {
      raw = await collect(up.body);
    } catch (e) {
      // The provider answered but the body never arrived whole (the agent hung up, the
      // connection broke): charge the prompt, which was certainly processed.
      const status = errorKindOf(e) === 'aborted' || res.destroyed ? 'aborted' : 'error';
      await this.settle(call, this.row(call, status, up.status, call.promptTokensEstimate, 0, 'estimate', 0, null, `response body lost: ${describeFailure(e)}`));
      if (!res.destroyed) throw new GatewayError('upstream', `The upstream provider ${call.provider.name} broke off its answer.`);
      return;
    }
    const firstByteMs = performance.now() - call.t0;
    let parsed: any = null;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      /* passed through as is, priced by estimate */
    }
    let out: string | Buffer = raw;
    let redactions = 0;
    const slots = parsed ? call.wire.textSlots(parsed) : [];
    if (this.d.guard.active && slots.length > 0) {
      let changed = false;
      for (const slot of slots) {
        const g = this.d.guard.text(call.agentId, `${call.endpoint}:${call.model}`, slot.text);
        if (g.block) {
          // The provider charged for output the agent will never see; the ledger still pays it.
          const u = call.wire.usage(parsed);
          const row = this.row(call, 'blocked', 400, u?.promptTokens ?? call.promptTokensEstimate, u?.completionTokens ?? countTextTokens(slot.text, call.model), u ? 'provider' : 'estimate', g.redactions, firstByteMs, g.block);
          await this.settle(call, row);
          throw new GatewayError('blocked', g.block, false);
        }
        redactions += g.redactions;
        if (g.text !== slot.text) {
          slot.set(g.text);
          changed = true;
        }
      }
      if (changed) out = JSON.stringify(parsed);
    }
    const usage = parsed ? call.wire.usage(parsed) : null;
    const promptTokens = usage?.promptTokens ?? call.promptTokensEstimate;
    const completionTokens = usage?.completionTokens ?? countTextTokens(slots.map((s) => s.text).join(''), call.model);
    const micros = await this.settle(call, this.row(call, 'ok', up.status, promptTokens, completionTokens, usage ? 'provider' : 'estimate', redactions, firstByteMs, null), null, usage ?? {});
    const headers = { ...this.passHeaders(up), 'content-type': String(up.headers['content-type'] ?? 'application/json'), 'x-iron-cage-cost-usd': (micros / 1_000_000).toFixed(6) };
    res.writeHead(up.status, { ...headers, 'content-length': Buffer.byteLength(out) });
    res.end(out);
  }

  private async streamResponse(call: Call, up: UpstreamResponse, res: ServerResponse, clientSignal: AbortSignal): Promise<void> {
    const { wire } = call;
    // In flight on record: a crash mid-stream still leaves the reservation in the ledger.
    // A failed insert (disk full, db closed) must not become an unhandled rejection; the
    // stream then settles with a fresh row instead of closing this one.
    const pending = this.d.store.open(this.row(call, 'pending', up.status, call.promptTokensEstimate, 0, 'estimate', 0, null, null)).catch((err: unknown) => {
      this.d.logger.error({ err }, 'could not record an in-flight stream');
      return null;
    });
    res.writeHead(up.status, { ...this.passHeaders(up), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    const splitter = new SseSplitter();
    const guards = new Map<number, StreamGuard>();
    const usage = { promptTokens: null as number | null, completionTokens: null as number | null };
    const cache: Cache = {};
    let text = '';
    let redactions = 0;
    let template: unknown = null;
    let firstByteMs: number | null = null;
    let blocked: string | null = null;
    const guardFor = (i: number) => {
      let g = guards.get(i);
      if (!g) guards.set(i, (g = this.d.guard.stream(call.agentId, `${call.endpoint}:${call.model}`)));
      return g;
    };
    const take = (r: { text: string; redactions: number; block: string | null }) => {
      redactions += r.redactions;
      if (r.block) blocked ??= r.block;
      return r.text;
    };

    const handle = (ev: SseEvent): string => {
      let json: any = null;
      if (ev.data && ev.data !== '[DONE]') {
        try {
          json = JSON.parse(ev.data);
        } catch {
          return ev.raw;
        }
      }
      const insp = wire.inspect(ev, json);
      if (insp.usage) {
        if (insp.usage.promptTokens !== undefined) usage.promptTokens = insp.usage.promptTokens;
        if (insp.usage.completionTokens !== undefined) usage.completionTokens = insp.usage.completionTokens;
        if (insp.usage.cacheReadTokens !== undefined) cache.cacheReadTokens = insp.usage.cacheReadTokens;
        if (insp.usage.cacheWriteTokens !== undefined) cache.cacheWriteTokens = insp.usage.cacheWriteTokens;
      }
      let changed = false;
      const extras: string[] = [];
      for (const slot of insp.slots) {
        if (text.length < MAX_COUNTED_CHARS) text += slot.text;
        if (!this.d.guard.active) continue;
        const out = take(guardFor(slot.index).push(slot.text));
        if (out !== slot.text) {
          slot.set(out);
          changed = true;
        }
      }
      if (this.d.guard.active) {
        for (const end of insp.ends) {
          const g = guards.get(end.index);
          if (!g) continue;
          guards.delete(end.index);
          const rest = take(g.end());
          if (!rest) continue;
          const extra = end.attach(rest);
          if (extra) extras.push(extra);
          else changed = true;
        }
        if (insp.last) {
          for (const [i, g] of guards) {
            const rest = take(g.end());
            if (rest) extras.push(wire.flushEvent(i, rest, template));
          }
          guards.clear();
        }
      }
      if (json && Array.isArray(json.choices) && json.choices.length > 0) template = json;
      if (call.hideUsageChunk && json && json.usage && Array.isArray(json.choices) && json.choices.length === 0) return extras.join('');
      return extras.join('') + (changed ? formatSse(JSON.stringify(json), ev.event) : ev.raw);
    };

    let status: 'ok' | 'aborted' | 'error' | 'blocked' = 'ok';
    let error: string | null = null;
    // 'data' events rather than `for await`: no promise per chunk on the hottest loop we have.
    await new Promise<void>((resolve) => {
      const body = up.body;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clientSignal.removeEventListener('abort', onAbort);
        body.removeListener('data', onData);
        discard(body);
        resolve();
      };
      const onAbort = () => {
        status = 'aborted';
        finish();
      };
      const onData = (chunk: Buffer) => {
        firstByteMs ??= performance.now() - call.t0;
        let out = '';
        for (const ev of splitter.push(chunk)) out += handle(ev);
        if (blocked) return finish();
        if (res.destroyed) return onAbort();
        if (out && !res.write(out)) {
          body.pause();
          void drained(res).then(() => (res.destroyed ? onAbort() : body.resume()));
        }
      };
      if (clientSignal.aborted) return onAbort();
      clientSignal.addEventListener('abort', onAbort, { once: true });
      body.on('data', onData);
      body.once('end', () => {
        if (!blocked && !res.destroyed) {
          let out = '';
          for (const ev of splitter.end()) out += handle(ev);
          if (out && !blocked) res.write(out);
        }
        finish();
      });
      body.once('error', (e: unknown) => {
        if (status === 'ok') {
          status = res.destroyed || errorKindOf(e) === 'aborted' ? 'aborted' : 'error';
          error = status === 'error' ? `stream broke: ${describeFailure(e)}` : null;
        }
        finish();
      });
    });
    if (res.destroyed && status === 'ok') status = 'aborted';
    if (blocked) {
      status = 'blocked';
      error = blocked;
      // Nothing more of this output may reach the agent; tell it why in its own format.
      const { body } = wire.error(400, 'blocked', blocked);
      if (!res.destroyed) res.write(wire.name === 'anthropic' ? formatSse(body, 'error') : formatSse(body));
    }
    const promptTokens = usage.promptTokens ?? call.promptTokensEstimate;
    // A provider's running count is final only for a finished stream (Anthropic opens with
    // output_tokens: 1); a cut-off stream is charged for what it delivered, at least.
    const counted = status === 'ok' && usage.completionTokens !== null ? null : countTextTokens(text, call.model);
    const completionTokens = counted === null ? usage.completionTokens! : Math.max(usage.completionTokens ?? 0, counted);
    const fromProvider = usage.promptTokens !== null && usage.completionTokens !== null && status === 'ok';
    const row = this.row(call, status, up.status, promptTokens, completionTokens, fromProvider ? 'provider' : 'estimate', redactions, firstByteMs, error);
    // The upstream charged for what it produced even if the agent hung up: settle on that.
    // The pending row commits on the next tick; the stream did not wait for it.
    await this.settle(call, row, await pending, cache);
    if (!res.destroyed) res.end();
  }

  private async models(res: ServerResponse): Promise<void> {
    const provider = this.d.router.effective('openai');
    const up = await provider.call({ endpoint: 'models', method: 'GET', body: null, json: null, stream: false, headers: {}, signal: AbortSignal.timeout(this.d.config.providers.openai.timeoutMs) });
    const raw = await collect(up.body);
    sendJson(res, up.status, raw.toString('utf8'));
  }
}

/**
 * Throw away an upstream body we will not read. undici's `dump()` drains it so the keep-alive
 * connection can be reused; destroying would raise an 'error' nobody listens to.
 */
function discard(body: NodeJS.ReadableStream & { dump?: () => Promise<void>; destroy?: () => void; destroyed?: boolean }): void {
  body.on('error', () => {});
  if (body.destroyed) return;
  if (typeof body.dump === 'function') body.dump().catch(() => {});
  else body.destroy?.();
}

/** Wait until a slow reader has caught up, or has gone away. */
function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function extractMessage(parsed: any): string | null {
  if (!parsed || typeof parsed !== 'object') return null;
  const m = parsed.error?.message ?? parsed.message;
  return typeof m === 'string' ? m : null;
}

function describeFailure(e: unknown): string {
  if (e && typeof e === 'object' && 'status' in e && typeof (e as { status: unknown }).status === 'number') return `HTTP ${(e as { status: number }).status}`;
  if (e instanceof CircuitOpenError) return 'circuit open';
  const kind = errorKindOf(e);
  if (kind !== 'unknown') return kind;
  return e instanceof Error ? e.message : String(e);
}
