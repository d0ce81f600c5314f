import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Principal } from '../core/roles.js';
import type { PromptParts } from '../core/prompt.js';
import type { GatewayConfig } from '../config/index.js';
import { MissingTokenError } from '../core/errors.js';
import { agentStanding, closedWords } from '../auth/index.js';
import type { Logger } from '../core/logger.js';
import { onHangUp, type Authenticator } from '../server/index.js';
import type { StateManager } from '../state/index.js';
import type { ProviderBreakers } from './breakers.js';
import type { Call, CallRequest } from './call.js';
import { deliverStream, deliverWhole, relayUpstreamError, type DeliverDeps } from './deliver.js';
import type { AnswerPolicy } from './held-calls.js';
import { BATCHES_REFUSED, countTokens, metered, models, readJsonObject, rethrowBodyError, routeFor, SERVED, wireFor, type Route } from './endpoints.js';
import { LLM_CALL, LLM_SURFACE } from './doors.js';
import type { Chain } from '../core/stages.js';
import { GatewayError, sendError } from './errors.js';
import { guardPrompt, type OutputGuard } from './guard.js';
import type { Meter } from './meter.js';
import type { Budgets } from '../budget/index.js';
import type { Provider } from './providers/types.js';
import type { Conversations } from './conversations.js';
import type { ResponsesState } from './responses-state.js';
import type { Router } from './router.js';
import { UpstreamCaller } from './upstream.js';
import type { Endpoint, Wire } from './wire/types.js';
import { keepsTurns, producesOutput } from './wire/wires.js';
import { observedCall, type ObservedCall, type Observer } from '../observability/index.js';
import type { AgentGate } from '../watch/index.js';
import { spanned, type InjectionGuard } from '../injection/index.js';

// Agent headers a provider may need; everything else (its token above all) stays here.
const FORWARD_REQUEST_HEADERS = ['anthropic-version', 'anthropic-beta', 'openai-beta'];
/**
 * The longest model name taken: the longest real ones (a Bedrock ARN, a fine-tune's name) are about
 * 100 characters. A longer one is no model name: refused before it is read for PII, stored or sent.
 */
const MAX_MODEL_CHARS = 256;

export interface HandlerDeps {
  state: StateManager;
  tokens: Pick<Authenticator, 'authenticate'>;
  meter: Meter;
  /** An agent first seen here (its token made by another process) gets its budget account. */
  budgets: Pick<Budgets, 'ensure'>;
  router: Router;
  breakers: ProviderBreakers;
  guard: OutputGuard;
  /** The Responses API's stored state: resolved into requests, kept from answers, served by its routes. */
  responses: Pick<ResponsesState, 'resolve' | 'serve'>;
  /** The Conversations API's routes (a conversation as a turn's context is resolved through `responses`). */
  conversations: Pick<Conversations, 'serve'>;
  config: GatewayConfig;
  logger: Logger;
  /** Metrics and traces: told of each LLM call as it ends, never waited on. */
  observer: Observer;
  /** A paused agent's calls wait here before anything is read, reserved or sent (src/watch). */
  gate?: AgentGate;
  /** Prompt injection in the tool results the agent sends (`safety.injection`, src/injection). */
  injection?: Pick<InjectionGuard, 'scan'>;
  /** The tool policies that read the tool calls in answers before the agent gets them (src/approvals' gate); none: none is read. */
  tools?: AnswerPolicy;
}

/** A request that passed validation, before anything is reserved for it. */
interface Parsed {
  request: CallRequest;
  model: string;
  provider: Provider;
  json: Record<string, unknown>;
  /** The agent's request bytes, while they still match `json`. */
  bodyText: string | null;
}

/** One request at the gateway as it passes its door, filled in as each step learns more. */
interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: Route;
  readonly t0: number;
  agentId: string;
  name: string;
  /** What metrics and traces are told (from past the pause gate). */
  obs: ObservedCall | null;
  /** The agent hanging up (watched from before its body is read, so no hang-up is missed) leaves the budget queue, aborts the upstream call and ends the stream. */
  client: AbortController | null;
  stopWatching: () => void;
  parsed: Parsed | null;
  /** Once reserved. */
  call: Call | null;
}

/**
 * The LLM gateway's request path, on plain Node streams (no Request/Response objects): a metered
 * call passes its door's steps (`LLM_CALL`, doors.ts) in the lifecycle's order: authenticate →
 * pause gate → parse and validate → guard the prompt → read it for injection → reserve → call with
 * retries and fallbacks and deliver whole or streamed, with redaction → settle and record (inside
 * delivery: the row is on disk before the response is finished) → observe. The other surfaces
 * (model lists, token counts, stored state) pass theirs (`LLM_SURFACE`).
 */
export class GatewayHandler {
  private readonly upstream: UpstreamCaller;
  private readonly delivery: DeliverDeps;
  private readonly calls: Chain<Exchange>;
  private readonly surfaces: Chain<Exchange>;

  constructor(private readonly d: HandlerDeps) {
    this.delivery = { meter: d.meter, guard: d.guard, tools: d.tools };
    this.upstream = new UpstreamCaller({ state: d.state, router: d.router, meter: d.meter, breakers: d.breakers, config: d.config });
    const auth = async (c: Exchange): Promise<void> => {
      ({ agentId: c.agentId, name: c.name } = await this.authenticate(c.req.headers));
    };
    this.calls = LLM_CALL.steps<Exchange>({
      auth,
      // A paused agent's call waits here: nothing parsed, reserved or recorded until it is resumed
      // (or its caller gives up, or it waited too long); its body is read meanwhile, to see a hang-up.
      pause: (c) => this.d.gate?.hold(c.agentId, { req: c.req, res: c.res, bodyLimit: this.d.config.maxRequestBytes })?.catch(rethrowBodyError),
      read: (c) => this.read(c),
      pii: (c) => this.guardPrompt(c.parsed!),
      injection: (c) => this.guardInjection(c.parsed!),
      budget: (c) => this.reserve(c),
      send: (c) => this.deliver(c.call!, c.res, c.client!.signal),
      // A call that failed (timeout, open circuit, refused fallback) is a row too, and frees its money; any path that did not settle must not keep money reserved.
      record: (c, failure) => {
        if (c.call) this.d.meter.release(c.call, failure?.error);
      },
      // Told once the error answer is on its way (handle writes it): never before the agent hears it.
      observe: (c, failure) => {
        const obs = c.obs;
        if (obs === null) return;
        if (failure === null) this.d.observer.llmCall(obs, null);
        else setImmediate(() => this.d.observer.llmCall(obs, failure.error));
      },
    });
    this.surfaces = LLM_SURFACE.steps<Exchange>({ auth, send: (c) => this.surface(c) });
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?', 1)[0]!;
    const route = routeFor(req, path);
    const wire = route?.wire ?? wireFor(req, path);
    if (!route) return sendError(res, wire, new GatewayError('not_found', `Unknown endpoint ${req.method} ${path}. ${SERVED}`), this.d.logger);
    const c: Exchange = { req, res, route, t0: performance.now(), agentId: '', name: '', obs: null, client: null, stopWatching: () => {}, parsed: null, call: null };
    (metered(route) ? this.calls : this.surfaces).run(c).then(
      () => c.stopWatching(),
      (err: unknown) => {
        c.stopWatching();
        sendError(res, wire, err, this.d.logger);
      },
    );
  };

  /** A surface that is no metered call, once its caller is authenticated. */
  private async surface(c: Exchange): Promise<void> {
    const { route, req, res } = c;
    switch (route.endpoint) {
      case 'models':
        return models(this.d, res, null, route.wire);
      case 'model':
        return models(this.d, res, route.id, route.wire);
      case 'batches':
        throw new GatewayError('not_found', BATCHES_REFUSED, false);
      case 'stored':
        return this.d.responses.serve(c.agentId, route.action, route.id, req, res);
      case 'conversation':
        return this.d.conversations.serve(c.agentId, route.action, route.id, route.itemId, req, res);
      case 'count_tokens': {
        const { json, text } = await readJsonObject(req, this.d.config.maxRequestBytes);
        return countTokens(this.d, res, json, text);
      }
    }
  }

  /** read: the call watched for its caller hanging up, its body parsed and validated, its stored state expanded. */
  private async read(c: Exchange): Promise<void> {
    const { req, res } = c;
    const route = c.route as { endpoint: Endpoint; wire: Wire };
    c.obs = observedCall({ agentId: c.agentId, agentName: c.name, endpoint: route.endpoint, headers: req.headers, t0: c.t0 });
    const client = new AbortController();
    c.client = client;
    c.stopWatching = onHangUp(req, res, () => client.abort());
    const p = await this.parse(req, route, c.obs);
    if (keepsTurns(p.request.endpoint)) this.resolveState(p);
    c.parsed = p;
  }

  /** budget: its worst case reserved (synchronously unless it must wait for in-flight calls to free budget); a caller gone by now is owed nothing and leaves no row. */
  private reserve(c: Exchange): Promise<void> | undefined {
    if (c.client!.signal.aborted) throw new GatewayError('invalid_request', 'The client closed the request.', false, undefined, 'client_aborted');
    const p = c.parsed!;
    const reserved = this.d.meter.reserve(p.request, p.model, p.provider, p.json, p.bodyText, c.client!.signal);
    if (!(reserved instanceof Promise)) {
      c.call = reserved;
      return undefined;
    }
    return reserved.then((call) => {
      c.call = call;
    });
  }

  /**
   * The agent whose own scoped token the headers carry: Bearer (OpenAI SDK) or x-api-key
   * (Anthropic SDK). Every call's check, and the Responses socket's before its upgrade.
   */
  async authenticate(headers: IncomingHttpHeaders): Promise<{ agentId: string; name: string }> {
    let p: Principal;
    try {
      // Synchronous for a token seen before: no promise on the hot path.
      const checked = this.d.tokens.authenticate(headers);
      p = checked instanceof Promise ? await checked : checked;
    } catch (e) {
      if (e instanceof MissingTokenError) throw new GatewayError('auth', 'No API key provided. Use the agent token iron-cage gave you (OPENAI_API_KEY / ANTHROPIC_API_KEY).', false);
      throw new GatewayError('auth', `Incorrect API key provided: ${(e as Error).message}.`, false);
    }
    if (p.role !== 'agent' || !p.agentId) throw new GatewayError('permission', `LLM calls need an agent token (this is a ${p.role} token): each call is metered against an agent's budget.`, false);
    const s = agentStanding(this.d.state, p.agentId);
    if ('closed' in s) throw new GatewayError(s.closed === 'unknown' ? 'auth' : 'permission', `${capitalised(closedWords(p.agentId, s))}.`, false);
    this.d.budgets.ensure(p.agentId, s.agent.limitMicros);
    return { agentId: p.agentId, name: s.agent.name };
  }

  /** The body as the wire's JSON, validated, and the model routed to its provider. */
  private async parse(req: IncomingMessage, route: { endpoint: Endpoint; wire: Wire }, obs: ObservedCall): Promise<Parsed> {
    const { agentId, t0 } = obs;
    const { json: body, text } = await readJsonObject(req, this.d.config.maxRequestBytes);
    const invalid = route.wire.validate(route.endpoint, body);
    if (invalid) throw new GatewayError('invalid_request', invalid);
    const model = (body.model as string).trim();
    if (model.length > MAX_MODEL_CHARS) throw new GatewayError('invalid_request', `model: not a model name: at most ${MAX_MODEL_CHARS} characters (got ${model.length})`);
    obs.request = body;
    // The prompt is read once, when first needed (after stored state is expanded into it and the
    // prompt guard's rewrite): the meter's reservation and the watch's loop check share it. It is
    // read from the body as it will be sent (`parsed.json`), never the one the agent sent: a
    // Responses request's `previous_response_id`, `conversation` and `item_reference`s are its
    // prompt too, and the reservation must price them.
    let parts: PromptParts | undefined;
    const prompt = (): PromptParts => (parts ??= route.wire.prompt(route.endpoint, parsed.json));
    obs.read = { prompt, output: (answer) => route.wire.textSlots(answer) };
    // The model name is the agent's to choose, and is stored and shown (the request row, cost by
    // model, events, the log): one holding PII is no model name, so it is refused, not sent.
    const pii = this.d.guard.typesIn(model);
    if (pii.length > 0)
      throw new GatewayError(
        'invalid_request',
        `model: not a model name: it holds what looks like ${pii.join(' and ')}, which iron-cage neither sends nor keeps.`,
        false,
        undefined,
        'model_holds_pii',
      );
    // Only now is it a model name metrics and traces may show.
    obs.requestModel = model;
    const resolved = this.d.router.resolve(model, route.wire.name);
    if (!resolved.ok) throw new GatewayError('invalid_request', resolved.message);
    const headers: Record<string, string> = {};
    for (const h of FORWARD_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const stream = body.stream === true && producesOutput(route.endpoint);
    obs.stream = stream;
    obs.provider = resolved.provider.name;
    obs.model = model;
    const parsed: Parsed = { request: { t0, agentId, endpoint: route.endpoint, wire: route.wire, stream, headers, obs, prompt }, model, provider: resolved.provider, json: body, bodyText: text };
    return parsed;
  }

  /**
   * A Responses request's stored state (`previous_response_id`, `conversation`, `item_reference`) expanded into
   * its full input, before the prompt guard, the budget's estimate and the provider see it.
   */
  private resolveState(p: Parsed): void {
    const { json, turn } = this.d.responses.resolve(p.request.agentId, p.json);
    p.request = { ...p.request, turn };
    if (json === p.json) return;
    p.json = json;
    p.bodyText = null;
  }

  /** With `safety.redact_prompts`: PII in the prompt is replaced (or refused) before it leaves. */
  private guardPrompt(p: Parsed): void {
    const { guard } = this.d;
    if (!guard.prompt) return;
    const { agentId, endpoint, wire } = p.request;
    if (guardPrompt(guard.prompt.bind(guard), agentId, `${endpoint}:${p.model}:prompt`, wire.prompt(endpoint, p.json))) p.bodyText = null;
  }

  /**
   * With `safety.injection`: the tool results the agent hands its model, read for prompt
   * injection after the PII guard (an excerpt never holds what it redacted). `block` refuses the
   * call before anything is reserved, sent or charged; `warn` puts a warning the model reads
   * before the result.
   */
  private guardInjection(p: Parsed): void {
    const { injection } = this.d;
    if (!injection) return;
    // The request's own prompt, read once for this and everything after it (the meter, the watch):
    // a warning written in through a text's `set` is in it as sent.
    const { agentId, endpoint, wire } = p.request;
    const v = injection.scan(agentId, `${endpoint}:${p.model}:prompt`, p.request.prompt?.() ?? wire.prompt(endpoint, p.json));
    if (v.carried && p.request.obs) p.request.obs.injection = spanned(v.carried);
    if (v.block)
      throw new GatewayError(
        'blocked',
        `This request was refused by iron-cage: the tool result${v.block.callId ? ` of call ${v.block.callId}` : ''} looks like a prompt injection (${v.block.signals.join(', ')}), and safety.injection is block. Remove that result from the conversation to go on.`,
        false,
        undefined,
        'injection_blocked',
      );
    if (v.rewrote) p.bodyText = null;
  }

  /**
   * Call upstream, then deliver its answer (or its error) to the agent, settling on the way. An
   * answer is read by what it is, never by what was asked: an event stream is relayed event by
   * event, a JSON body is read whole (some servers ignore `stream`), anything else as asked,
   * where what cannot be parsed is scanned as text or refused.
   */
  private async deliver(call: Call, res: ServerResponse, clientSignal: AbortSignal): Promise<void> {
    const up = await this.upstream.call(call, clientSignal);
    if (up.status >= 400) return relayUpstreamError(this.delivery, call, up, res);
    const type = String(up.headers['content-type'] ?? '').toLowerCase();
    const stream = type.startsWith('text/event-stream') ? true : /^application\/([\w.+-]*\+)?json\b/.test(type) ? false : call.stream;
    if (stream) return deliverStream(this.delivery, call, up, res, clientSignal);
    return deliverWhole(this.delivery, call, up, res);
  }
}

/** A sentence as the providers' errors begin one. */
const capitalised = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
