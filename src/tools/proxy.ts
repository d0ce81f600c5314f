import type { IncomingMessage, ServerResponse } from 'node:http';
import { tokenFromHeaders, type Principal, type TokenService } from '../auth/index.js';
import { ForbiddenError, IronCageError, NotFoundError, PayloadTooLargeError, UnauthorizedError, ValidationError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { FallbackResult } from '../reliability/index.js';
import { toErrorResponse } from '../server/index.js';
import type { ToolEntry, ToolAnswer } from './entry.js';
import { upstreamRequestHeaders } from './headers.js';
import { failureLabel } from './messages.js';
import { parseToolUrl, upstreamUrl } from './path.js';
import type { ToolsService } from './service.js';
import { ClientLink, ResponseTooLargeError } from './upstream.js';

export const MAX_TOOL_BODY_BYTES = 5 * 1024 * 1024;

const TIER = 'x-iron-cage-tier';
const BREAKER = 'x-iron-cage-breaker';

/** Refused before the chain ran: nothing went upstream. Carries what the call row needs. */
class Refusal extends Error {
  constructor(readonly error: IronCageError, readonly reason: string) {
    super(error.message);
  }
}

interface Call {
  started: number;
  principal: Principal;
  entry: ToolEntry;
  method: string;
  path: string;
  /** A fault plan decided this call (whatever the breaker then did with it). */
  fault: boolean;
}

/**
 * `ANY /tools/<service>/<path>?<query>`: the agent's external API calls. Plain Node handling
 * (no Hono) because this is a hot path; every outcome, errors included, is written here.
 */
export function toolsHandler(tools: ToolsService, tokens: TokenService, logger: Logger) {
  const authenticate = async (req: IncomingMessage): Promise<Principal> => {
    const token = tokenFromHeaders(req.headers.authorization, headerOnce(req.headers['x-api-key']));
    if (!token) throw new UnauthorizedError('a token is required: send Authorization: Bearer <token>');
    const p = await tokens.verify(token);
    if (p.role === 'viewer') throw new ForbiddenError('viewer tokens are read-only; the tool proxy needs an agent or admin token');
    return p;
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    let call: Call | null = null;
    void (async () => {
      const principal = await authenticate(req);
      const parsed = parseToolUrl(req.url ?? '');
      if (!parsed.ok) throw new ValidationError(parsed.message, 'invalid_path');
      const { target } = parsed;
      const entry = tools.entries.get(target.service);
      if (!entry) throw new NotFoundError(`no tool service '${target.service}' is configured (tools.${target.service} in the config file)`);
      const method = (req.method ?? 'GET').toUpperCase();
      call = { started, principal, entry, method, path: `/${target.rest}`, fault: false };

      const url = upstreamUrl(entry.base, target);
      if (!url) throw new Refusal(new ValidationError("the path would leave the service's base URL", 'invalid_path'), 'invalid_path');
      const body = await readBody(req, MAX_TOOL_BODY_BYTES);

      const client = new ClientLink();
      // 'close' after the response is finished is the normal end; before it, the agent gave up.
      res.once('close', () => {
        if (!res.writableFinished) client.hangUp();
      });
      const agentId = principal.agentId;
      const fault = tools.faults.next(entry.name, Date.now());
      call.fault = fault !== null;
      const result = await entry.serve({
        agentId,
        method,
        url,
        headers: upstreamRequestHeaders(req.headers, entry.config.headers),
        body,
        rest: target.rest,
        query: target.query,
        client,
        fault,
      });
      if (client.gone) {
        tools.recordCall(row(call, 499, null, 'client_aborted', null, result, 0));
        return;
      }
      tools.noteServed(entry, result.tier, result.cacheLookup, result.reason, result.tier === 'live' ? null : result.detail, agentId);
      const sent = respond(res, entry, result, method);
      tools.recordCall(row(call, sent.status, result.tier, result.reason, result.tier === 'live' ? null : result.detail, result, sent.bytes, sent.redactions));
    })().catch((err: unknown) => {
      const refusal = err instanceof Refusal ? err : null;
      const error = refusal ? refusal.error : err;
      const { status, body, unexpected } = toErrorResponse(error);
      if (unexpected) logger.error({ err }, `${req.method} ${req.url?.split('?')[0]} failed`);
      if (call) tools.recordCall(row(call, status, null, refusal?.reason ?? (error as IronCageError).code ?? 'internal_error', null, null, 0));
      sendJson(res, status, body, status === 413 ? { connection: 'close' } : {});
    });
  };
}

function headerOnce(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function sendJson(res: ServerResponse, status: number, payload: unknown, extra: Record<string, string>): number {
  if (res.headersSent || res.destroyed) return 0;
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
  return Buffer.byteLength(text);
}

/** The agent's body, whole (it is hashed for the cache key and may be sent more than once). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(new Refusal(new PayloadTooLargeError(limit), 'payload_too_large'));
  if (declared === 0 || (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined)) {
    return Promise.resolve(null);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        reject(new Refusal(new PayloadTooLargeError(limit), 'payload_too_large'));
        // Stop reading; the 413 goes out with `connection: close`.
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(size === 0 ? null : Buffer.concat(chunks, size));
    });
    req.on('error', (e) => reject(new Refusal(new ValidationError(`could not read the request body: ${e.message}`), 'bad_body')));
    // A client that hangs up mid-body sends no 'end'; without this the call would wait forever.
    req.on('close', () => {
      if (!req.complete) reject(new Refusal(new ValidationError('the client closed the connection before the body ended'), 'client_aborted'));
    });
  });
}

function respond(res: ServerResponse, entry: ToolEntry, r: FallbackResult<ToolAnswer>, method: string): { status: number; bytes: number; redactions: number } {
  const breaker: Record<string, string> = {};
  if (r.tier !== 'live' && r.reason !== 'upstream_failure') {
    breaker[BREAKER] = r.reason === 'circuit_open' ? 'open' : 'half-open';
    if (r.retryAfterMs !== null) breaker['retry-after'] = String(Math.max(1, Math.ceil(r.retryAfterMs / 1000)));
  }
  if (r.tier === 'failed') {
    const { status, code, message } = failure(entry, r);
    const upstream = r.live?.ok ? r.live.value.headers['retry-after'] : undefined;
    const extra: Record<string, string> = { [TIER]: 'failed', ...breaker };
    if (upstream !== undefined && !extra['retry-after']) extra['retry-after'] = String(upstream);
    return { status, bytes: sendJson(res, status, { error: { code, message } }, extra), redactions: 0 };
  }
  const a = r.value;
  if (a.blocked) {
    const extra: Record<string, string> = { [TIER]: r.tier };
    if (a.blocked.types) extra['x-iron-cage-pii'] = a.blocked.types.join(',');
    const message = `${entry.name}: ${a.blocked.message}`;
    return { status: 403, bytes: sendJson(res, 403, { error: { code: 'pii_blocked', message } }, extra), redactions: a.redactions };
  }
  const headers: Record<string, string | string[]> = { ...a.headers, [TIER]: r.tier, ...breaker };
  if (r.tier !== 'live') headers['x-iron-cage-fallback-reason'] = r.reason;
  if (a.storedAt !== null) headers['x-iron-cage-cached-at'] = new Date(a.storedAt).toISOString();
  if (a.fault) headers['x-iron-cage-fault'] = 'injected';
  headers['content-length'] = String(a.body.length);
  if (res.destroyed) return { status: a.status, bytes: 0, redactions: a.redactions };
  res.writeHead(a.status, headers);
  // HEAD, 204 and 304 carry no body whatever the upstream put in the buffer.
  if (method === 'HEAD' || a.status === 204 || a.status === 304) res.end();
  else res.end(a.body);
  return { status: a.status, bytes: a.body.length, redactions: a.redactions };
}

function failure(entry: ToolEntry, r: Extract<FallbackResult<ToolAnswer>, { tier: 'failed' }>): { status: number; code: string; message: string } {
  const nothing = 'and there is no cached answer or placeholder';
  if (r.reason !== 'upstream_failure') {
    const wait = r.retryAfterMs === null ? '' : `; retry in ${Math.max(1, Math.ceil(r.retryAfterMs / 1000))} s`;
    const state = r.reason === 'circuit_open' ? 'is open' : 'is half-open and already probing';
    return { status: 503, code: 'circuit_open', message: `the circuit for ${entry.name} ${state} ${nothing}${wait}` };
  }
  if (r.detail === 'timeout') {
    return { status: 504, code: 'upstream_timeout', message: `${entry.name} did not answer within ${entry.config.timeoutMs} ms ${nothing}` };
  }
  if (r.live && !r.live.ok && r.live.error instanceof ResponseTooLargeError) {
    return { status: 502, code: 'upstream_response_too_large', message: `${entry.name}: ${r.live.error.message} ${nothing}` };
  }
  const what = r.detail?.startsWith('http_') ? `answered ${failureLabel(r.detail)}` : `could not be reached (${r.detail ?? 'unknown error'})`;
  return { status: 503, code: 'upstream_unavailable', message: `${entry.name} ${what} ${nothing}` };
}

function row(
  c: Call,
  status: number,
  tier: string | null,
  reason: string,
  detail: string | null,
  r: FallbackResult<ToolAnswer> | null,
  bytes: number,
  redactions = 0,
) {
  const live = r?.live?.ok ? r.live.value : null;
  return {
    ts: new Date().toISOString(),
    agentId: c.principal.agentId,
    service: c.entry.name,
    method: c.method,
    path: c.path.slice(0, 2000),
    status,
    tier,
    reason,
    detail,
    upstreamStatus: live && !live.fault ? live.status : null,
    latencyMs: Math.round((performance.now() - c.started) * 1000) / 1000,
    upstreamMs: live?.upstreamMs == null ? null : Math.round(live.upstreamMs * 1000) / 1000,
    bytes,
    redactions,
    fault: c.fault,
  };
}
