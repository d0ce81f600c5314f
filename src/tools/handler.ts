import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../core/roles.js';
import { PROXIED_METHODS } from '../config/index.js';
import type { Authenticator } from '../server/index.js';
import { ForbiddenError, IronCageError, NotFoundError, UnauthorizedError, ValidationError } from '../core/errors.js';
import type { Failure } from '../core/stages.js';
import { agentStanding, closedWords } from '../auth/index.js';
import type { StateManager } from '../state/index.js';
import { NO_OBSERVER, type ObservedInjection, type Observer } from '../observability/index.js';
import type { Logger } from '../core/logger.js';
import { SERVICE_NAME, type FallbackResult } from '../domain/reliability/index.js';
import { BodyReadError, onHangUp, readBody, toErrorResponse } from '../server/index.js';
import type { ToolCallInput } from '../state/index.js';
import type { ToolEntry, ToolAnswer } from './entry.js';
import { cacheKeyHeaders, upstreamRequestHeaders } from './headers.js';
import { failureLabel } from '../reliability/index.js';
import { parseToolUrl, TOOLS_PREFIX, upstreamUrl, type ToolTarget } from './path.js';
import type { ToolProxy } from './proxy.js';
import { ClientLink, ResponseTooLargeError } from './upstream.js';
import type { AgentGate } from '../watch/index.js';
import { httpArgs, toolName, type PolicyGate } from '../approvals/index.js';
import { TOOL_PROXY } from './door.js';

export const MAX_TOOL_BODY_BYTES = 5 * 1024 * 1024;

const TIER = 'x-iron-cage-tier';
const BREAKER = 'x-iron-cage-breaker';

/** No such service: answered as any 404 is, but its row says which kind (an unauthorized action). */
class UnknownServiceError extends NotFoundError {
  readonly reason = 'unknown_service';
}

/** The agent hung up while its call waited for approval: nothing was sent. */
class GaveUpError extends IronCageError {
  constructor() {
    super('client_aborted', 499, 'the agent closed the request while its call waited for approval; nothing was sent');
  }
}

/** What a refused call's row says: the finer reason an error carries (a body that broke off), else its code. */
const reasonOf = (err: unknown): string => (err instanceof UnknownServiceError || err instanceof BodyReadError ? err.reason : err instanceof IronCageError ? err.code : 'internal_error');

/**
 * The methods passed on (PROXIED_METHODS, those a policy rule may name); any other is refused with
 * 405. TRACE would echo the request (our injected service credentials included) back to whoever
 * sent it, CONNECT would make the proxy a tunnel, and PURGE, PROPFIND or MKCOL would pass a rule
 * that holds `[POST, PUT, DELETE]`, since no rule can name them.
 */
const PROXIED = new Set<string>(PROXIED_METHODS);
const ALLOW = PROXIED_METHODS.join(', ');

/** Refusals that mean an agent reached for what it may not (counted as unauthorized actions), not a broken request. */
const UNAUTHORIZED = new Set(['unknown_service', 'invalid_path']);

/** One agent call as it moves through the stages; filled in as each one learns more. */
interface ToolCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly started: number;
  principal: Principal | null;
  /** Known once the path names a configured service; from then on every outcome is recorded. */
  entry: ToolEntry | null;
  method: string;
  /** The path (no query) as the call's row keeps it (PII replaced). */
  path: string;
  /** A fault plan decided this call (whatever the breaker then did with it). */
  fault: boolean;
  result: FallbackResult<ToolAnswer> | null;
  /** The agent hung up while the call was served. */
  gone: boolean;
  /** What the agent sent besides the path: the query and body (observers fingerprint them). */
  sent: { query: string; body: Buffer | null };
  /** A prompt injection the answer carried, kept for the span when the answer itself is refused. */
  injection: ObservedInjection | null;
  /** The service's configured headers, vault secrets filled in, and the credentials among them. */
  configured: { headers: Record<string, string>; injected: string[] };
  /** The agent hanging up (watched from before its body is read, so no hang-up is missed) is not sent, or stops the upstream call. */
  readonly client: ClientLink;
  stopWatching: () => void;
  /** What the path names (read), and the body. */
  target: { entry: ToolEntry; target: ToolTarget; url: URL; body: Buffer | null } | null;
  /** What goes back, once the call is decided (record). */
  reply: Reply | null;
  /** The refusal the reply says, thrown on by the door's chain once the call is recorded. */
  refusal: unknown;
  /** The call's row and its id, once written (record), for the observers. */
  recorded: { row: ToolCallInput; id: number | null } | null;
}

/** What goes back to the agent, and what its row says about it. */
interface Reply {
  status: number;
  headers: Record<string, string | string[]>;
  /** null: no body (HEAD, 204, 304). */
  body: Buffer | null;
  redactions: number;
  /** Why the call ended this way: `ok`, a fallback reason or an error code. */
  reason: string;
  /** What the call's row counts as delivered. */
  bytes: number;
  /** The agent hung up before an answer: nothing is sent. */
  gone?: boolean;
}

/** What the tool proxy's door needs besides the proxy itself. */
export interface ToolsHandlerDeps {
  tokens: Pick<Authenticator, 'authenticate'>;
  /** Whose agent a token is, and whether its run is live (`agentStanding`). */
  state: Pick<StateManager, 'agentBrief'>;
  logger: Logger;
  observer?: Pick<Observer, 'toolCall'>;
  gate?: AgentGate | undefined;
  policy?: Pick<PolicyGate, 'check'> | undefined;
}

/**
 * `ANY /tools/<service>/<path>?<query>`: the agent's external API calls. Plain Node handling
 * (no Hono) because this is a hot path. Its stages are its door's (`TOOL_PROXY`, door.ts): auth →
 * pause → read → policy → send → record → observe; every outcome, errors included, is recorded
 * before the agent has its answer.
 */
export function toolsHandler(tools: ToolProxy, d: ToolsHandlerDeps) {
  const { tokens, logger, gate, policy } = d;
  const observer = d.observer ?? NO_OBSERVER;
  /** auth: an agent's token of a live run, or an admin's. */
  const authenticate = async (call: ToolCall): Promise<void> => {
    const p = await tokens.authenticate(call.req.headers);
    if (p.role !== 'agent' && p.role !== 'admin') throw new ForbiddenError(`${p.role} tokens are read-only; the tool proxy needs an agent or admin token`);
    if (p.role === 'agent' && p.agentId !== null) {
      const s = agentStanding(d.state, p.agentId);
      if ('closed' in s) throw s.closed === 'unknown' ? new UnauthorizedError(closedWords(p.agentId, s)) : new ForbiddenError(closedWords(p.agentId, s));
    }
    call.principal = p;
  };

  /**
   * pause: a paused agent's call waits here, before its path is parsed: no row, nothing sent,
   * until it is resumed (or its caller gives up, or it waited too long); its body is read
   * meanwhile, to see a hang-up.
   */
  const pause = (call: ToolCall): Promise<void> | undefined => {
    const agentId = call.principal?.agentId ?? null;
    return (agentId === null ? null : gate?.hold(agentId, { req: call.req, res: call.res, bodyLimit: MAX_TOOL_BODY_BYTES })) ?? undefined;
  };

  /** read: the path, the service it names and the body. */
  const read = async (call: ToolCall): Promise<void> => {
    call.stopWatching = onHangUp(call.req, call.res, () => call.client.hangUp());
    const { entry, target, url } = parsePath(call);
    const body = await readToolBody(call.req);
    call.sent = { query: target.query, body };
    call.target = { entry, target, url, body };
  };

  /** The service and the upstream URL the path names. */
  const parsePath = (call: ToolCall): { entry: ToolEntry; target: ToolTarget; url: URL } => {
    const parsed = parseToolUrl(call.req.url ?? '');
    if (!parsed.ok) throw new ValidationError(parsed.message, 'invalid_path');
    const { target } = parsed;
    const entry = tools.entries.get(target.service);
    if (!entry) throw new UnknownServiceError(`no tool service '${target.service}' is configured (tools.${target.service} in the config file)`);
    call.entry = entry;
    call.path = tools.recordedPath(`/${target.rest}`);
    if (!PROXIED.has(call.method)) {
      throw new IronCageError('method_not_allowed', 405, `${call.method} is not passed on by the tool proxy (allowed: ${ALLOW})`, { headers: { allow: ALLOW } });
    }
    call.configured = tools.headersOf(entry);
    const url = upstreamUrl(entry.base, target);
    if (!url) throw new ValidationError("the path would leave the service's base URL", 'invalid_path');
    return { entry, target, url };
  };

  /**
   * policy: the policy's say (`policies:`), once the call is read and before anything leaves: a
   * rule may refuse it, rate it or hold it for a person (the agent hanging up while it waits
   * withdraws it). An admin's own call through the proxy is not an agent's: the rules are about agents.
   */
  const decide = async (call: ToolCall): Promise<void> => {
    const agentId = call.principal?.agentId ?? null;
    if (!policy || agentId === null || call.principal?.role !== 'agent') return;
    const { entry, target, body } = call.target!;
    const gone = new AbortController();
    const stop = call.client.onHangUp(() => gone.abort());
    try {
      const held = policy.check(
        // The rules read the body the upstream will get, to the same limit: what they cannot read there fails closed.
        { kind: 'http', agentId, service: entry.name, tool: toolName(target.rest), method: call.method, read: () => httpArgs(target.query, body, call.req.headers, MAX_TOOL_BODY_BYTES) },
        gone.signal,
      );
      if (held) await held;
    } finally {
      stop();
    }
  };

  /** send: a caller gone by now is not sent; else the service's tiers answer it. */
  const forward = async (call: ToolCall): Promise<void> => {
    if (call.client.gone) throw new GaveUpError();
    const { entry, target, url, body } = call.target!;
    const result = await serve(call, call.client, entry, target, url, body);
    call.reply = call.gone ? GONE : respond(entry, result, call.method);
  };

  const serve = async (call: ToolCall, client: ClientLink, entry: ToolEntry, target: ToolTarget, url: URL, body: Buffer | null): Promise<FallbackResult<ToolAnswer>> => {
    const fault = tools.faults.next(entry.name, Date.now());
    call.fault = fault !== null;
    const p = call.principal!;
    const agentId = p.agentId;
    const result = await entry.serve({
      agentId,
      // Names are not unique (two API tokens may both be 'ops'): an API token's cache is its own.
      caller: agentId !== null ? `agent:${agentId}` : p.apiToken ? `token:${p.jti}` : `${p.role}:${p.userId ?? p.name}`,
      method: call.method,
      url,
      headers: upstreamRequestHeaders(call.req.headers, call.configured.headers),
      injected: call.configured.injected,
      body,
      rest: target.rest,
      query: target.query,
      keyHeaders: cacheKeyHeaders(call.req.headers),
      client,
      fault,
    });
    call.result = result;
    call.injection = result.tier === 'failed' ? null : (result.value.injection ?? null);
    call.gone = client.gone;
    if (!client.gone) tools.noteServed(entry, result.tier, result.cacheLookup, result.reason, result.tier === 'live' ? null : result.detail, agentId);
    return result;
  };

  /** Refused before the chain ran (nothing went upstream), or broken. */
  const failed = (call: ToolCall, err: unknown): Reply => {
    const reply = errorReply(err, reasonOf(err), {});
    // The path as its row keeps it: a path can carry PII, and a log line is a stored copy.
    if (reply.unexpected) logger.error({ err }, `${call.req.method} ${tools.recordedPath(call.req.url?.split('?')[0] ?? '')} failed`);
    const { reason, status } = reply;
    const p = call.principal;
    if (UNAUTHORIZED.has(reason) && p?.role === 'agent' && p.agentId) {
      // The service the path names, when it is a name at all (a refused path may not parse).
      const first = (call.req.url ?? '').slice(TOOLS_PREFIX.length).split(/[/?]/, 1)[0]!;
      // A name that holds PII (`/tools/123-45-6789/…`) reaches the event redacted.
      const named = SERVICE_NAME.test(first) ? tools.recordedPath(`/${first}`).slice(1) : null;
      tools.noteRefused(p.agentId, call.entry?.name ?? named, reason as 'unknown_service' | 'invalid_path', status);
    }
    // Refused or broken: the row names why; it carries no tier, upstream figures or bytes.
    call.result = null;
    return { ...reply, bytes: 0 };
  };

  /** record: the call's row (once its service is known), whatever became of it; a refusal's reply made here. */
  const record = async (call: ToolCall, failure: Failure): Promise<void> => {
    if (failure !== null) {
      call.reply = failed(call, failure.error);
      call.refusal = failure.error;
    }
    if (!call.entry) return;
    const r = row(call, call.entry, call.reply!);
    call.recorded = { row: r, id: null };
    call.recorded.id = await tools.recordCall(r);
  };

  /** observe: metrics and traces are told of the call; their failure is logged, never the agent's. */
  const observe = (call: ToolCall): void => {
    if (call.recorded === null) return;
    const reply = call.reply!;
    try {
      observer.toolCall({
        row: call.recorded.row,
        headers: call.req.headers,
        startMs: performance.timeOrigin + call.started,
        errorCode: reply.status >= 400 ? reply.reason : null,
        id: call.recorded.id,
        sent: call.sent,
        injection: call.injection,
      });
    } catch (err) {
      logger.error({ err }, 'metrics could not count a tool call');
    }
  };

  const chain = TOOL_PROXY.steps<ToolCall>({ auth: authenticate, pause, read, policy: decide, send: forward, record, observe });

  return (req: IncomingMessage, res: ServerResponse): void => {
    const call: ToolCall = {
      req,
      res,
      started: performance.now(),
      principal: null,
      entry: null,
      method: (req.method ?? 'GET').toUpperCase(),
      path: '',
      fault: false,
      result: null,
      gone: false,
      configured: { headers: {}, injected: [] },
      sent: { query: '', body: null },
      injection: null,
      client: new ClientLink(),
      stopWatching: () => {},
      target: null,
      reply: null,
      refusal: undefined,
      recorded: null,
    };
    const answer = (): void => {
      call.stopWatching();
      send(res, call.reply!);
    };
    chain.run(call).then(answer, (err: unknown) => {
      // Refused (its reply made and its row written): answered. Anything else broke the answer itself.
      if (call.reply !== null && err === call.refusal) return answer();
      call.stopWatching();
      logger.error({ err }, `${req.method} ${tools.recordedPath(req.url?.split('?')[0] ?? '')} could not be answered`);
      if (!res.destroyed) res.destroy();
    });
  };
}

const GONE: Reply = { status: 499, headers: {}, body: null, redactions: 0, reason: 'client_aborted', bytes: 0, gone: true };

/**
 * An error as the agent gets it: the one error answer in REST's shape, with the proxy's own
 * headers (`extra`: tier, breaker state, an upstream's retry-after) under the error's own.
 */
function errorReply(err: unknown, reason: string, extra: Record<string, string>, redactions = 0): Reply & { unexpected: boolean } {
  const { status, body: payload, headers, unexpected } = toErrorResponse(err);
  const body = Buffer.from(JSON.stringify(payload));
  return { status, headers: { 'content-type': 'application/json', 'content-length': String(body.length), ...extra, ...headers }, body, redactions, reason, bytes: body.length, unexpected };
}

function send(res: ServerResponse, r: Reply): void {
  if (r.gone || res.headersSent || res.destroyed) return;
  res.writeHead(r.status, r.headers);
  if (r.body === null) res.end();
  else res.end(r.body);
}

/** The agent's body, whole (it is hashed for the cache key and may be sent more than once). */
async function readToolBody(req: IncomingMessage): Promise<Buffer | null> {
  const body = await readBody(req, MAX_TOOL_BODY_BYTES);
  return body.length === 0 ? null : body;
}

/** The answer the agent gets, whichever tier produced it (or why none did). */
function respond(entry: ToolEntry, r: FallbackResult<ToolAnswer>, method: string): Reply {
  const breaker: Record<string, string> = {};
  if (r.tier !== 'live' && r.reason !== 'upstream_failure') {
    breaker[BREAKER] = r.reason === 'circuit_open' ? 'open' : 'half-open';
    const wait = waitS(r);
    if (wait !== undefined) breaker['retry-after'] = String(wait);
  }
  if (r.tier === 'failed') return errorReply(failure(entry, r), r.reason, { [TIER]: 'failed', ...breaker });
  const a = r.value;
  if (a.blocked) {
    const blocked = new IronCageError(a.blocked.code ?? 'pii_blocked', 403, `${entry.name}: ${a.blocked.message}`, {
      kind: 'blocked',
      ...(a.blocked.types ? { headers: { 'x-iron-cage-pii': a.blocked.types.join(',') } } : {}),
    });
    return errorReply(blocked, r.reason, { [TIER]: r.tier }, a.redactions);
  }
  const headers: Record<string, string | string[]> = { ...a.headers, [TIER]: r.tier, ...breaker };
  if (r.tier !== 'live') headers['x-iron-cage-fallback-reason'] = r.reason;
  if (a.storedAt !== null) headers['x-iron-cage-cached-at'] = new Date(a.storedAt).toISOString();
  if (a.fault) headers['x-iron-cage-fault'] = 'injected';
  headers['content-length'] = String(a.body.length);
  // HEAD, 204 and 304 carry no body whatever the upstream put in the buffer.
  const bodyless = method === 'HEAD' || a.status === 204 || a.status === 304;
  return { status: a.status, headers, body: bodyless ? null : a.body, redactions: a.redactions, reason: r.reason, bytes: a.body.length };
}

/** Seconds until the breaker lets a call through again, if it knows. */
const waitS = (r: FallbackResult<ToolAnswer>): number | undefined => (r.tier === 'live' || r.retryAfterMs === null ? undefined : Math.max(1, Math.ceil(r.retryAfterMs / 1000)));

/**
 * Why no tier could answer, as the error the agent gets. A failure the proxy already retried
 * (more than one live attempt) says `x-should-retry: false`, as one that retrying cannot mend
 * (an answer too large) does: a client retrying on top would multiply the upstream's load.
 */
function failure(entry: ToolEntry, r: Extract<FallbackResult<ToolAnswer>, { tier: 'failed' }>): IronCageError {
  const nothing = 'and there is no cached answer or placeholder';
  const again = r.attempts > 1 ? { retry: false } : {};
  if (r.reason !== 'upstream_failure') {
    const retryAfterS = waitS(r);
    const state = r.reason === 'circuit_open' ? 'is open' : 'is half-open and already probing';
    return new IronCageError('circuit_open', 503, `the circuit for ${entry.name} ${state} ${nothing}${retryAfterS === undefined ? '' : `; retry in ${retryAfterS} s`}`, {
      ...again,
      ...(retryAfterS === undefined ? {} : { retryAfterS }),
    });
  }
  if (r.detail === 'timeout') {
    return new IronCageError('upstream_timeout', 504, `${entry.name} did not answer within ${entry.config.timeoutMs} ms ${nothing}`, again);
  }
  if (r.live && !r.live.ok && r.live.error instanceof ResponseTooLargeError) {
    return new IronCageError('upstream_response_too_large', 502, `${entry.name}: ${r.live.error.message} ${nothing}`, { retry: false });
  }
  const what = r.detail?.startsWith('http_') ? `answered ${failureLabel(r.detail)}` : `could not be reached (${r.detail ?? 'unknown error'})`;
  // The upstream's own retry-after (seconds or a date) is the agent's; without one, the error's default.
  const upstream = r.live?.ok ? r.live.value.headers['retry-after'] : undefined;
  return new IronCageError('upstream_unavailable', 503, `${entry.name} ${what} ${nothing}`, { ...again, ...(upstream === undefined ? {} : { headers: { 'retry-after': String(upstream) } }) });
}

function row(call: ToolCall, entry: ToolEntry, reply: Reply): ToolCallInput {
  const r = call.result;
  const live = r?.live?.ok ? r.live.value : null;
  // A refusal before the chain ran has no tier; the agent hanging up leaves the tier unserved.
  const tier = r === null || reply.gone ? null : r.tier;
  return {
    ts: new Date().toISOString(),
    agentId: call.principal?.agentId ?? null,
    service: entry.name,
    method: call.method,
    path: call.path.slice(0, 2000),
    status: reply.status,
    tier,
    reason: reply.reason,
    detail: tier === null || tier === 'live' || r === null || r.tier === 'live' ? null : r.detail,
    upstreamStatus: live && !live.fault ? live.status : null,
    latencyMs: Math.round((performance.now() - call.started) * 1000) / 1000,
    upstreamMs: live?.upstreamMs == null ? null : Math.round(live.upstreamMs * 1000) / 1000,
    bytes: call.res.destroyed ? 0 : reply.bytes,
    redactions: reply.redactions,
    fault: call.fault,
  };
}
