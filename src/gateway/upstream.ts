import { performance } from 'node:perf_hooks';
import { providerTimeoutMs, type GatewayConfig } from '../config/index.js';
import { CircuitOpenError, errorKindOf, RequestError, isRetryableOutcome, retry, retryAfterFromHeaders, statusClassifier, type CircuitBreaker, type Classifier } from '../domain/reliability/index.js';
import type { StateManager } from '../state/index.js';
import type { ProviderBreakers } from './breakers.js';
import type { Call } from './call.js';
import { describeFailure, GatewayError } from './errors.js';
import type { Meter } from './meter.js';
import type { UpstreamResponse } from './providers/types.js';
import type { Router } from './router.js';

export interface UpstreamDeps {
  state: StateManager;
  router: Router;
  meter: Meter;
  breakers: ProviderBreakers;
  config: GatewayConfig;
}

const statusOf = (r: UpstreamResponse) => r.status;

/** A provider's breaker, and its judge of an answer: by HTTP status, or a throw by its kind. */
interface Guarded {
  breaker: CircuitBreaker;
  judge: Classifier<UpstreamResponse>;
}
/** The agent went away: whatever the provider threw after that is the hang-up's doing. */
const clientGone = (cause: unknown) => (errorKindOf(cause) === 'aborted' ? cause : Object.assign(new Error('the client closed the request', { cause }), { name: 'AbortError' }));
const timedOut = () => Object.assign(new Error('upstream timed out'), { name: 'TimeoutError' });

/**
 * Throw away an upstream body we will not read. undici's `dump()` drains it so the keep-alive
 * connection can be reused; destroying would raise an 'error' nobody listens to.
 */
export function discard(body: NodeJS.ReadableStream & { dump?: () => Promise<void>; destroy?: () => void; destroyed?: boolean }): void {
  body.on('error', () => {});
  if (body.destroyed) return;
  if (typeof body.dump === 'function') body.dump().catch(() => {});
  else body.destroy?.();
}

/** The requested model, then the configured fallbacks, each retried through its provider's breaker. */
export class UpstreamCaller {
  private readonly guarded = new Map<string, Guarded>();

  constructor(private readonly d: UpstreamDeps) {}

  /** The answer to deliver (a status ≥ 400 included, once nothing is left to try), or a GatewayError. */
  async call(call: Call, clientSignal: AbortSignal): Promise<UpstreamResponse> {
    const requested = call.target.model;
    const chain = [requested, ...(this.d.config.modelFallbacks[requested] ?? [])];
    let lastError: unknown;
    for (let i = 0; i < chain.length; i++) {
      if (i > 0) {
        if (clientSignal.aborted) break;
        const next = chain[i]!;
        const resolved = this.d.router.resolve(next, call.wire.name);
        if (!resolved.ok) continue;
        const from = call.target.model;
        const reason = describeFailure(lastError);
        call.obs?.fallbacks.push({ from, to: next, reason });
        this.d.state.record({
          agentId: call.agentId,
          type: 'llm.fallback',
          severity: 'warn',
          message: `Model ${from} failed (${reason}): falling back to ${next}`,
          data: { from, to: next, reason },
        });
        await this.d.meter.retarget(call, next, resolved.provider);
      }
      const outcome = await this.withRetries(call, clientSignal);
      // The request itself broke the provider: another model would be given the same request.
      if (!outcome.ok && errorKindOf(outcome.error) === 'request') throw failure(outcome.error, call);
      if (outcome.ok && !(isRetryableOutcome({ status: outcome.value.status }) && i < chain.length - 1)) return outcome.value;
      if (outcome.ok) discard(outcome.value.body);
      lastError = outcome.ok ? { status: outcome.value.status } : outcome.error;
    }
    throw failure(lastError, call);
  }

  private withRetries(call: Call, clientSignal: AbortSignal) {
    const { attempts, baseMs, maxMs } = this.d.config.retry;
    return retry(() => this.attempt(call, clientSignal), {
      attempts,
      baseMs,
      maxMs,
      retryable: (s) =>
        !clientSignal.aborted && (s.ok ? isRetryableOutcome({ status: s.value.status }) : !(s.error instanceof CircuitOpenError) && isRetryableOutcome({ error: errorKindOf(s.error) })),
      retryAfterMs: (s) => (s.ok ? retryAfterFromHeaders(s.value.headers, Date.now()) : null),
      onRetry: ({ settled, delayMs }) => {
        if (call.obs) call.obs.retryWaitMs += delayMs;
        if (settled.ok) discard(settled.value.body);
      },
    });
  }

  /**
   * One attempt through the provider's breaker, judged by HTTP status or by error kind. Only
   * the upstream's own sickness counts against it: the agent hanging up or giving up (its own
   * timeout) is `aborted`, and whatever an in-process provider throws on a request is that
   * request's fault (`request`), never a failure every other agent then pays for.
   */
  private attempt(call: Call, clientSignal: AbortSignal): Promise<UpstreamResponse> {
    const { provider, upstream } = call.target;
    const timeoutMs = providerTimeoutMs(this.d.config, provider.name);
    const { breaker, judge } = this.guardFor(provider.name);
    return breaker.call(async () => {
      let sentAt: number | null = null;
      // Real upstreams get undici's header and body timeouts; the in-process one gets ours.
      const own = provider.real ? null : new AbortController();
      const timer = own && setTimeout(() => own.abort(timedOut()), timeoutMs);
      try {
        // A call granted as its agent hung up is never sent, so it owes nothing.
        if (clientSignal.aborted) throw clientGone(clientSignal.reason);
        call.dispatched = true;
        call.attempts++;
        sentAt = performance.now();
        // Once sent, the agent hanging up does not cancel it: providers differ in what a cancel
        // stops and bills, so the answer is read to its end for the usage it reports (deliver,
        // stream) and the call is charged that, or its worst case when the usage cannot be read.
        const answer = await provider.call({
          endpoint: call.endpoint,
          method: 'POST',
          body: upstream.text,
          json: upstream.json,
          stream: call.stream,
          headers: call.headers,
          ...(own ? { signal: own.signal } : {}),
        });
        if (call.obs) observeAttempt(call, sentAt, answer.status, null);
        return answer;
      } catch (e) {
        if (call.obs && sentAt !== null) observeAttempt(call, sentAt, null, describeFailure(e));
        // Our own deadline is a timeout whatever the provider threw when it was cut off.
        if (own?.signal.aborted && errorKindOf(e) !== 'timeout') throw timedOut();
        throw !provider.real && errorKindOf(e) === 'unknown' ? new RequestError(e) : e;
      } finally {
        if (timer) clearTimeout(timer);
      }
    }, judge);
  }

  private guardFor(name: string): Guarded {
    let g = this.guarded.get(name);
    if (!g) {
      const breaker = this.d.breakers(name);
      g = { breaker, judge: statusClassifier(statusOf, breaker.options.classify) };
      this.guarded.set(name, g);
    }
    return g;
  }
}

/** One upstream request, for metrics and traces: how long until its answer's headers, and how it went. */
function observeAttempt(call: Call, sentAt: number, status: number | null, error: string | null): void {
  const obs = call.obs!;
  const now = performance.now();
  obs.upstreamMs += now - sentAt;
  obs.answerAt = status === null ? null : now;
  obs.attempts.push({ provider: call.target.provider.name, model: call.target.model, startMs: performance.timeOrigin + sentAt, durationMs: now - sentAt, status, error });
  obs.provider = call.target.provider.name;
  obs.model = call.target.model;
  obs.server = call.target.provider.server ?? null;
}

/**
 * Whether the agent's SDK may send the call again: not once we have retried it ourselves (our
 * attempts times the SDK's would reach the provider), nor when trying again cannot help. The
 * official SDKs obey `x-should-retry: false`.
 */
export const sdkMayRetry = (call: Pick<Call, 'attempts'>): boolean => call.attempts <= 1;

function failure(lastError: unknown, call: Call): GatewayError {
  const provider = call.target.provider.name;
  const again = sdkMayRetry(call);
  if (lastError instanceof CircuitOpenError) {
    // The time until the breaker lets a probe through: an SDK that waits it out is not refused again.
    const waitS = Math.max(1, Math.ceil(lastError.retryAfterMs / 1000));
    return new GatewayError('unavailable', `Provider ${provider} is failing and its circuit is open; retry in ${waitS}s.`, again, waitS, 'circuit_open');
  }
  const kind = errorKindOf(lastError);
  if (kind === 'timeout') return new GatewayError('timeout', `The upstream provider ${provider} did not answer in time.`, again);
  if (kind === 'aborted') return new GatewayError('invalid_request', 'The client closed the request.', true, undefined, 'client_aborted');
  if (kind === 'request') return new GatewayError('invalid_request', `The provider ${provider} could not process this request: ${(lastError as Error).message}.`, false);
  return new GatewayError('upstream', `Could not reach the upstream provider ${provider}: ${describeFailure(lastError)}.`, again, undefined, 'upstream_unreachable');
}
