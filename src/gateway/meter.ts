import { performance } from 'node:perf_hooks';
import { CONGESTION_RETRY_S, type BudgetNotices, type StepMarks } from '../budget/index.js';
import type { GatewayConfig } from '../config/index.js';
import type { Logger } from '../core/logger.js';
import {
  type AcquireRequest,
  type BudgetRefusal,
  type BudgetTracker,
  clampFloor,
  clampMinimum,
  clampOutput,
  clampPrompt,
  costOf,
  estimateRequestCost,
  type PriceBook,
  type PriceSchedule,
  type RequestEstimate,
  type ReserveGranted,
  type ReserveResult,
  type SettleResult,
  type WaitBound,
} from '../domain/budget/index.js';
import type { PromptParts } from '../core/prompt.js';
import type { Observer } from '../observability/index.js';
import type { LlmRequestInput, RequestsStore, StateManager, Tx } from '../state/index.js';
import type { KeptTurn, ResponsesState } from './responses-state.js';
import { type Bill, type Call, type CallRequest, type Outcome, type Reading, requestRow, type Target, upstreamBody } from './call.js';
import { describeFailure, GatewayError } from './errors.js';
import type { Provider } from './providers/types.js';
import { producesOutput } from './wire/wires.js';

export interface MeterDeps {
  /** Every agent's budget: the arithmetic of reserving and charging. */
  tracker: BudgetTracker;
  book: PriceBook;
  /** What is said about it: refusals, waits, every call's event, thresholds, alerts. */
  notices: BudgetNotices;
  /** Where a call's row, its charge and its event are written in one transaction. */
  state: StateManager;
  requests: RequestsStore;
  config: Pick<GatewayConfig, 'budgetPolicy'>;
  logger: Logger;
  /** Where an answered Responses turn is kept, in the call's own transaction (responses-state.ts). */
  responses?: Pick<ResponsesState, 'keep' | 'save'>;
  /** Told of each row once it is committed: metrics count tokens and money from there. */
  observer?: Pick<Observer, 'settled'>;
  /** Where a call belongs (its step and chain), decided as it starts; absent: neither is recorded. */
  marks?: Pick<StepMarks, 'mark'>;
}

/** A stream's `pending` row (`Meter.openPending`), as `Meter.settle` closes it. */
export interface PendingRow {
  /** Its insert has run (in a group commit that may still fail: `id` is null then). */
  written: boolean;
  /** Settled before its insert ran: the insert is skipped, the final row written instead. */
  folded: boolean;
  /** The row's id once committed; null when it was skipped or failed. */
  id: Promise<number | null>;
}

/** A call to one model, planned before its reservation: its worst case, and the least a clamp may give it. */
interface Plan {
  /** The request's prompt, read by its wire. */
  parts: PromptParts;
  model: string;
  provider: Provider;
  json: Record<string, unknown>;
  est: RequestEstimate;
  schedule: PriceSchedule;
  choices: number;
  /** The prompt tokens a clamp plans for (the estimate with a margin). */
  prompt: number;
  ask: AcquireRequest;
}

/**
 * The money path of one LLM call, in the order it runs:
 *
 * 1. `reserve`: the call's worst case is priced and held before anything leaves, waiting (first
 *    come, first served) while in-flight calls hold the headroom it needs; with
 *    `near_limit: clamp` it may get less and is sent with a lower output limit.
 * 2. `retarget`: a fallback model takes the call over without letting go of its money.
 * 3. `settle`: what the provider reports is priced and charged (`bill`: the worst case when its
 *    usage cannot be read) in the same transaction that writes the call's row and its event,
 *    and that commits before the agent's answer is finished, so a kill -9 never loses spend.
 * 4. `release`: a call that ends without settling (failed, refused, abandoned) frees what it
 *    held, and still leaves its row.
 *
 * The arithmetic is the tracker's (domain/budget), the announcements BudgetNotices'. This is the
 * only code that changes a Call's money: its target and its reservation.
 */
export class Meter {
  constructor(private readonly d: MeterDeps) {}

  // ── 1. reserve ───────────────────────────────────────────────────────────────────────────

  /**
   * Reserve the worst case for the requested model, waiting for in-flight calls to free the
   * budget they hold if need be (synchronous when there is no wait); a refusal is the agent's
   * answer. `signal` is the agent's connection: hanging up leaves the wait queue, and later leaves a row.
   *
   * @example
   *   const r = meter.reserve(request, 'gpt-4o', provider, json, bodyText, signal);
   *   const call = r instanceof Promise ? await r : r;
   */
  reserve(req: CallRequest, model: string, provider: Provider, json: Record<string, unknown>, bodyText: string | null, signal?: AbortSignal): Call | Promise<Call> {
    const plan = this.plan(req, model, provider, json);
    // Its step and chain as it starts (before any wait): the tool it follows is used up by it.
    const mark = this.d.marks?.mark(req.agentId, plan.parts);
    const r = this.acquire(req.agentId, plan, signal, (bound) => this.d.tracker.acquire(req.agentId, plan.ask, bound), req.obs);
    const granted = (g: ReserveResult): Call => {
      if (!g.ok) throw this.refusal(g, model);
      try {
        const target = this.fit(req, plan, g, bodyText);
        return {
          t0: req.t0,
          agentId: req.agentId,
          endpoint: req.endpoint,
          wire: req.wire,
          stream: req.stream,
          headers: req.headers,
          ...(req.turn ? { turn: req.turn } : {}),
          ...(req.obs ? { obs: req.obs } : {}),
          target,
          reservationId: g.reservationId,
          attempts: 0,
          ...(signal ? { signal } : {}),
          ...(mark ? { step: mark.step, chain: mark.chain } : {}),
        };
      } catch (err) {
        // A grant no call carries would hold its headroom for good.
        this.d.tracker.release(g.reservationId);
        throw err;
      }
    };
    return r instanceof Promise ? r.then(granted) : granted(r);
  }

  // ── 2. retarget ──────────────────────────────────────────────────────────────────────────

  /**
   * A fallback takes over: its model, its body, and the call's reservation swapped for the
   * fallback's worst case without letting go of it (a release first would hand the call's own
   * headroom to a waiter); a dearer fallback that does not fit waits or is refused like any call,
   * or with near_limit: clamp, and nothing else in flight, is sent with a lower output limit.
   */
  retarget(call: Call, model: string, provider: Provider): void | Promise<void> {
    const plan = this.plan(call, model, provider, { ...call.target.json, model });
    const held = call.reservationId;
    const r = this.acquire(
      call.agentId,
      plan,
      call.signal,
      (bound) => (held === null ? this.d.tracker.acquire(call.agentId, plan.ask, bound) : this.d.tracker.replace(held, plan.ask.amountMicros, bound, plan.ask.minMicros)),
      call.obs,
    );
    const swapped = (g: ReserveResult): void => {
      if (!g.ok) {
        // The refusal let go of what the call held; the call is still owed its row.
        call.reservationId = null;
        call.unrecorded = true;
        throw this.refusal(g, model);
      }
      // Held by the call from here: a fit that throws still has its reservation released with the call.
      call.reservationId = g.reservationId;
      call.target = this.fit(call, plan, g, null);
    };
    return r instanceof Promise ? r.then(swapped) : swapped(r);
  }

  // ── 3. settle ────────────────────────────────────────────────────────────────────────────

  /**
   * Charge what the provider produced (`bill`) and write the call's row and its `llm.request`
   * event, in one transaction (group-committed with the other calls of this tick): the charge is made
   * inside it, once the row is in, so the budget and the rows always agree — a row that fails
   * to go in is never charged, a commit that fails takes its charge back. Until then the
   * reservation holds the call's worst case, so nothing else can spend it meanwhile. Resolves
   * once the row is on disk: callers finish the answer after that. `pending`: the stream's
   * row opened when it began (`openPending`), closed here instead of a new one; a pending row
   * not yet written when the stream is settled never is: this row takes its place, in the
   * same group commit or an earlier one than the pending row would have had.
   */
  async settle(call: Call, outcome: Outcome, pending: PendingRow | null = null): Promise<number> {
    let pendingId: number | null = null;
    if (pending !== null) {
      if (pending.written) pendingId = await pending.id;
      else pending.folded = true;
    }
    // Whatever the provider produced is owed, whatever became of the response.
    const bill = this.bill(call.target, outcome.reading);
    const micros = bill.micros;
    const row = requestRow(call, outcome, bill);
    const kept = this.kept(call, outcome, bill);
    const reservation = call.reservationId;
    call.reservationId = null;
    let charged: SettleResult | null = null;
    let written: { id: number; charged: SettleResult };
    try {
      ({ result: written } = await this.d.state.writeSoon(
        (tx) => {
          // The central budgets it is charged to, decided with the charge: the row's tag (the panel adds its cost to each).
          const keys = this.d.tracker.centralKeys(call.agentId, reservation);
          row.budgets = keys.length > 0 ? JSON.stringify(keys) : null;
          const id = pendingId ?? this.d.requests.insert(tx, row);
          if (pendingId !== null) this.d.requests.finish(tx, pendingId, row);
          if (kept) this.keep(tx, kept);
          charged = reservation === null ? this.d.tracker.charge(call.agentId, micros) : this.d.tracker.settle(reservation, micros);
          return { id, charged };
        },
        ({ id, charged }) => this.d.notices.requestEvent(id, row, charged),
      ));
    } catch (err) {
      const done = charged as SettleResult | null;
      if (done !== null) this.d.tracker.uncharge(call.agentId, done);
      else if (reservation !== null) this.d.tracker.release(reservation);
      throw err;
    }
    // Counted as soon as it is on disk, whatever the announcements below do.
    this.observe(call, row, outcome, written.id);
    this.d.notices.charged(call.agentId, written.charged, row);
    return micros;
  }

  /** A committed row, told to metrics and traces; their failure is logged, never the call's. */
  private observe(call: Call, row: LlmRequestInput, outcome: Outcome, id: number): void {
    const obs = call.obs;
    if (obs) {
      obs.row = row;
      obs.firstChunkMs = row.firstByteMs;
      obs.provider = row.provider;
      obs.model = row.model;
      const u = outcome.reading?.usage;
      obs.cacheReadTokens = u?.cacheReadTokens ?? null;
      obs.cacheWriteTokens = u?.cacheWriteTokens ?? null;
    }
    try {
      this.d.observer?.settled(obs, row, id);
    } catch (err) {
      this.d.logger.error({ err }, 'metrics could not count a call');
    }
  }

  /** The kept turn written; a failure is logged, never the call's (its row and charge stand). */
  private keep(tx: Tx, kept: KeptTurn): void {
    try {
      this.d.responses!.save(tx, kept);
    } catch (err) {
      this.d.logger.error({ err }, 'could not keep a response');
    }
  }

  /** An answered Responses turn to keep with the call's row (`store: true`), or null; never a reason for the call to fail. */
  private kept(call: Call, outcome: Outcome, bill: Bill): KeptTurn | null {
    if (!this.d.responses || !call.turn || outcome.status !== 'ok' || outcome.answer === undefined) return null;
    try {
      return this.d.responses.keep(call, outcome.answer, bill);
    } catch (err) {
      this.d.logger.error({ err }, 'could not prepare a response to keep');
      return null;
    }
  }

  /**
   * A stream is on record from its first byte, so a crash mid-stream still leaves the reservation
   * in the llm_requests table. A failed insert (disk full, db closed) must not become an
   * unhandled rejection; the stream then settles with a fresh row instead of closing this one.
   * The row joins the next group commit; a stream settled before that commit (its whole answer
   * came in one read, as under load) has its final row written instead (see `settle`).
   */
  openPending(call: Call, httpStatus: number): PendingRow {
    const row = requestRow(
      call,
      { status: 'pending', httpStatus, redactions: 0, firstByteMs: null, error: null },
      { promptTokens: call.target.promptTokensEstimate, completionTokens: 0, usageSource: 'estimate', micros: 0 },
    );
    // Tagged from its first byte: a stream a crash cuts off is settled at its reservation after the
    // restart, and that spend counts against the central budgets it held (settle writes the tag again).
    const keys = this.d.tracker.centralKeys(call.agentId, call.reservationId);
    row.budgets = keys.length > 0 ? JSON.stringify(keys) : null;
    const pending: PendingRow = { written: false, folded: false, id: Promise.resolve(null) };
    pending.id = this.d.state
      .writeSoon((tx) => {
        if (pending.folded) return null;
        pending.written = true;
        return this.d.requests.insert(tx, row);
      }, null)
      .then(
        (w) => w.result,
        (err: unknown) => {
          this.d.logger.error({ err }, 'could not record an in-flight stream');
          return null;
        },
      );
    return pending;
  }

  /**
   * An answer read to its end that waits for a person before the agent gets it (a tool call an
   * approve rule holds): its reservation shrinks to what the answer owes, so a wait of minutes
   * holds no more of the budget (the agent's, a central one other agents share) than the call
   * spent. It is settled, as any call, once the decision is made.
   */
  hold(call: Call, reading: Reading): void {
    if (call.reservationId !== null) this.d.tracker.shrink(call.reservationId, this.bill(call.target, reading).micros);
  }

  // ── 4. release ───────────────────────────────────────────────────────────────────────────

  /**
   * A call that did not settle still leaves its row, and gives back what it reserved: no answer
   * of the provider's was read, so nothing is owed (an answer that was, however it ended, is
   * settled where it is read). An agent that hung up: `aborted` (a hang-up never cancels a
   * call the provider was sent: see UpstreamCaller); a call that failed (`failure`: a timeout,
   * a broken connection, an open circuit, a refused fallback): `error`, with what went wrong.
   */
  release(call: Call, failure?: unknown): void {
    if (call.reservationId === null && !call.unrecorded) return;
    call.unrecorded = false;
    const aborted = call.signal?.aborted === true;
    if (!aborted && failure === undefined) {
      if (call.reservationId !== null) this.d.tracker.release(call.reservationId);
      call.reservationId = null;
      return;
    }
    const failed = failure === undefined ? 'did not answer' : `failed (${describeFailure(failure)})`;
    const error = !aborted
      ? describeFailure(failure)
      : call.dispatched
        ? `the client closed the request; the provider then ${failed}`
        : 'the client closed the request before it was sent to the provider';
    const httpStatus = aborted ? 499 : failure instanceof GatewayError ? failure.status : 502;
    this.settle(call, { status: aborted ? 'aborted' : 'error', httpStatus, reading: null, redactions: 0, firstByteMs: null, error }).catch((err: unknown) =>
      this.d.logger.error({ err }, 'could not record a call that did not finish'),
    );
  }

  // ── how a reservation is planned ─────────────────────────────────────────────────────────

  /** What a call to `model` may cost at worst and, with near_limit: clamp, the least it may be given. */
  private plan(req: Pick<CallRequest, 'agentId' | 'endpoint' | 'wire' | 'prompt'>, model: string, provider: Provider, json: Record<string, unknown>): Plan {
    const policy = this.d.config.budgetPolicy;
    // A fallback's body differs from the agent's in `model` only: the prompt read once serves both.
    const parts = req.prompt ? req.prompt() : req.wire.prompt(req.endpoint, json);
    const output = req.wire.output(req.endpoint, json);
    const est = estimateRequestCost(this.d.book, {
      model,
      provider: provider.name,
      prompt: parts,
      output,
      // An embedding produces no output: it reserves its input only.
      defaultMaxOutputTokens: producesOutput(req.endpoint) ? policy.defaultMaxOutputTokens : 0,
    });
    const price = this.d.book.lookup(model, provider.name);
    if (est.unknownModel) this.d.notices.unknownModel(req.agentId, price, provider.name);
    const choices = output.choices;
    const clamp = policy.nearLimit === 'clamp' && est.maxOutputTokens > 0;
    // Planned with a margin on the prompt, and never below what the model needs to answer at all.
    const prompt = clampPrompt(est.promptTokens, parts.messages.length);
    const minMicros = clamp ? clampMinimum(price.schedule, prompt, est.maxOutputTokens, choices, clampFloor(model, output.thinking)) : est.costMicros;
    return { parts, model, provider, json, est, schedule: price.schedule, choices, prompt, ask: { amountMicros: est.costMicros, minMicros } };
  }

  /**
   * Ask the tracker, within `budget_policy.wait_ms` and `max_waiting`, synchronous when there is
   * nothing to wait for; the waits and refusals are announced whatever becomes of the call.
   */
  private acquire(
    agentId: string,
    plan: Plan,
    signal: AbortSignal | undefined,
    ask: (bound: WaitBound) => ReserveResult | Promise<ReserveResult>,
    obs: CallRequest['obs'],
  ): ReserveResult | Promise<ReserveResult> {
    const p = this.d.config.budgetPolicy;
    const r = ask({ timeoutMs: p.waitMs, maxWaiting: p.maxWaiting, ...(signal ? { signal } : {}), onWait: () => this.d.notices.waiting(agentId, plan.ask.amountMicros, plan.model) });
    if (!(r instanceof Promise)) {
      if (!r.ok) this.d.notices.refused(r, plan.model);
      return r;
    }
    const waitFrom = performance.now();
    return r.then((x) => {
      if (obs) obs.budgetWaitMs += performance.now() - waitFrom;
      if (!x.ok) this.d.notices.refused(x, plan.model);
      this.d.notices.waiting(agentId, 0, null);
      return x;
    });
  }

  /** The target a grant pays for: the call as asked, or (clamped) the largest output limit whose worst case fits, and only that reserved. */
  private fit(req: CallRequest, p: Plan, g: ReserveGranted, bodyText: string | null): Target {
    if (g.amountMicros >= p.est.costMicros) return this.target(req, p.model, p.provider, p.json, bodyText, p.est);
    const c = clampOutput(p.schedule, p.prompt, p.choices, Math.floor(p.est.maxOutputTokens / p.choices), g.amountMicros);
    this.d.tracker.shrink(g.reservationId, c.costMicros);
    const clamped = req.wire.limitOutput(req.endpoint, p.json, c.perChoice);
    return this.target(req, p.model, p.provider, clamped, null, { costMicros: c.costMicros, promptTokens: p.est.promptTokens, maxOutputTokens: c.perChoice * p.choices });
  }

  private target(
    req: CallRequest,
    model: string,
    provider: Provider,
    json: Record<string, unknown>,
    bodyText: string | null,
    est: Pick<RequestEstimate, 'costMicros' | 'promptTokens' | 'maxOutputTokens'>,
  ): Target {
    const body = upstreamBody(req, json, bodyText);
    return {
      model,
      provider,
      json,
      upstream: body.upstream,
      hideUsageChunk: body.hideUsageChunk,
      reservedMicros: est.costMicros,
      promptTokensEstimate: est.promptTokens,
      maxOutputTokens: est.maxOutputTokens,
    };
  }

  private refusal(r: BudgetRefusal, model: string): GatewayError {
    if (r.code === 'aborted') return new GatewayError('invalid_request', 'The client closed the request.', false, undefined, 'client_aborted');
    // Congestion, not an empty budget: 429 with retry-after; 402 says the budget must be raised, or
    // (no_lease) that no central budget's lease covers the call: an SDK must not retry that at once.
    if (r.code === 'wait_timeout' || r.code === 'queue_full') return new GatewayError('rate_limit', this.d.notices.refusalMessage(r, model), true, CONGESTION_RETRY_S, `budget_${r.code}`);
    return new GatewayError(
      'budget',
      this.d.notices.refusalMessage(r, model),
      false,
      undefined,
      r.code === 'no_lease' ? 'no_lease' : r.code === 'unknown_agent' ? 'unknown_agent' : 'budget_exhausted',
    );
  }

  /**
   * What a call is charged, by one rule. An answer read to its end whose provider reported both
   * counts: those counts at the model's prices (prompt-cache parts at theirs). Anything less (a
   * count left out, an answer cut off or broken, one in a form or a coding we cannot read): the
   * worst case, as reserved for it: its prompt (as reported, else as estimated) and all the
   * output its limit allows (or more, if more was reported or seen). The provider may well have
   * billed all of it, and a budget must not be spent past its limit on a guess.
   * Nothing read (an error answer, a call the provider never answered): $0.
   */
  private bill(t: Target, r: Reading | null): Bill {
    if (r === null) return { promptTokens: 0, completionTokens: 0, usageSource: 'estimate', micros: 0 };
    const u = r.usage;
    const { schedule } = this.d.book.lookup(t.model, t.provider.name);
    const cost = (input: number, output: number) =>
      input + output === 0 ? 0 : costOf(schedule, { inputTokens: input, outputTokens: output, cacheReadTokens: u.cacheReadTokens, cacheWriteTokens: u.cacheWriteTokens });
    if (r.complete && u.promptTokens !== undefined && u.completionTokens !== undefined) {
      return { promptTokens: u.promptTokens, completionTokens: u.completionTokens, usageSource: 'provider', micros: cost(u.promptTokens, u.completionTokens) };
    }
    const promptTokens = u.promptTokens ?? t.promptTokensEstimate;
    const completionTokens = Math.max(u.completionTokens ?? 0, r.counted ?? 0, t.maxOutputTokens);
    return { promptTokens, completionTokens, usageSource: 'estimate', micros: cost(promptTokens, completionTokens) };
  }
}
