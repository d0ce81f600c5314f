import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../core/roles.js';
import type { Authenticator } from '../server/index.js';
import { ForbiddenError, IronCageError, NotFoundError, ValidationError } from '../core/errors.js';
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
 * Methods a proxy must not pass on: TRACE echoes the request (our injected service
 * credentials included) back to whoever sent it; CONNECT would turn the proxy into a tunnel.
 */
const NOT_PROXIED = new Set(['TRACE', 'CONNECT']);
const ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

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

/**
 * `ANY /tools/<service>/<path>?<query>`: the agent's external API calls. Plain Node handling
 * (no Hono) because this is a hot path. Stages: authenticate → parse path → read body →
 * serve → respond → record; every outcome, errors included, is recorded before the agent
 * has its answer.
 */
export function toolsHandler(
  tools: ToolProxy,
  tokens: Pick<Authenticator, 'authenticate'>,
  logger: Logger,
  observer: Pick<Observer, 'toolCall'> = NO_OBSERVER,
  gate?: AgentGate,
  policy?: Pick<PolicyGate, 'check'>,
) {
  const authenticate = async (call: ToolCall): Promise<void> => {
    const p = await tokens.authenticate(call.req.headers);
    if (p.role !== 'agent' && p.role !== 'admin') throw new ForbiddenError(`${p.role} tokens are read-only; the tool proxy needs an agent or admin token`);
    call.principal = p;
    // A paused agent's call waits here, before its path is parsed: no row, nothing sent, until it is
    // resumed (or its caller gives up, or it waited too long); its body is read meanwhile, to see a hang-up.
    const held = p.agentId === null ? null : gate?.hold(p.agentId, { req: call.req, res: call.res, bodyLimit: MAX_TOOL_BODY_BYTES });
    if (held) await held;
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
    if (NOT_PROXIED.has(call.method)) {
      throw new IronCageError('method_not_allowed', 405, `${call.method} is not passed on by the tool proxy (allowed: ${ALLOW})`, { headers: { allow: ALLOW } });
    }
    call.configured = tools.headersOf(entry);
    const url = upstreamUrl(entry.base, target);
    if (!url) throw new ValidationError("the path would leave the service's base URL", 'invalid_path');
    return { entry, target, url };
  };

  /**
   * The policy's say (`policies:`), once the call is read and before anything leaves: a rule may
   * refuse it, rate it or hold it for a person (the agent hanging up while it waits withdraws
   * it). An admin's own call through the proxy is not an agent's: the rules are about agents.
   */
  const decide = async (call: ToolCall, client: ClientLink, entry: ToolEntry, target: ToolTarget, body: Buffer | null): Promise<void> => {
    const agentId = call.principal?.agentId ?? null;
    if (!policy || agentId === null || call.principal?.role !== 'agent') return;
    const gone = new AbortController();
    const stop = client.onHangUp(() => gone.abort());
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

  /** Metrics and traces are told of the call; their failure is logged, never the agent's. */
  const observe = (call: ToolCall, r: ToolCallInput, reply: Reply, id: number | null): void => {
    try {
      observer.toolCall({
        row: r,
        headers: call.req.headers,
        startMs: performance.timeOrigin + call.started,
        errorCode: reply.status >= 400 ? reply.reason : null,
        id,
        sent: call.sent,
        injection: call.injection,
      });
    } catch (err) {
      logger.error({ err }, 'metrics could not count a tool call');
    }
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    const method = (req.method ?? 'GET').toUpperCase();
    const call: ToolCall = {
      req,
      res,
      started: performance.now(),
      principal: null,
      entry: null,
      method,
      path: '',
      fault: false,
      result: null,
      gone: false,
      configured: { headers: {}, injected: [] },
      sent: { query: '', body: null },
      injection: null,
    };
    // The agent hanging up (watched from before its body is read, so no hang-up is missed) is not sent, or stops the upstream call.
    const client = new ClientLink();
    let stopWatching = (): void => {};
    void (async () => {
      let reply: Reply;
      try {
        await authenticate(call);
        stopWatching = onHangUp(req, res, () => client.hangUp());
        const { entry, target, url } = parsePath(call);
        const body = await readToolBody(req);
        call.sent = { query: target.query, body };
        await decide(call, client, entry, target, body);
        if (client.gone) throw new GaveUpError();
        const result = await serve(call, client, entry, target, url, body);
        reply = call.gone ? GONE : respond(entry, result, method);
      } catch (err) {
        reply = failed(call, err);
      }
      if (call.entry) {
        const r = row(call, call.entry, reply);
        const id = await tools.recordCall(r);
        observe(call, r, reply, id);
      }
      stopWatching();
      send(res, reply);
    })().catch((err: unknown) => {
      stopWatching();
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
