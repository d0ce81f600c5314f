import { rootCertificates } from 'node:tls';
import { type Undici, undici } from '../core/on-first-use.js';
import * as z from 'zod';
import { retryAfterFromHeaders } from '../domain/reliability/index.js';
import type { LeaseAsk } from '../domain/budget/index.js';
import type { TelemetryAck, TelemetryHello } from '../state/index.js';

/** What the panel said to a hello or a batch, as the reporter acts on it. */
export type PanelAnswer<T> =
  | { kind: 'ok'; value: T }
  /** 409 `out_of_order`: ask where the panel stands and resume from there. */
  | { kind: 'out_of_order'; expectedSeq: number | null }
  /** 401/403: the token (or its scope) is wrong; an admin may fix it, so keep trying, slowly. */
  | { kind: 'refused'; status: number; reason: string }
  /** 413: the batch is too big for the panel: send it in smaller parts. */
  | { kind: 'too_large'; reason: string }
  /** Any other 4xx (a malformed batch: versions apart? `budget_not_covered`: a call names a budget not leased to it): said once, tried again slowly. */
  | { kind: 'rejected'; status: number; reason: string; code?: string }
  /** Unreachable, timed out, 5xx, 429, 408: send the same again after a back-off (or what Retry-After asks). */
  | { kind: 'retry'; reason: string; retryAfterMs: number | null };

/** One central budget in a lease answer (`POST /api/leases`), as the panel's contract states it. */
const leaseBudget = z.object({
  budget: z.string().min(1),
  scope: z.enum(['agent', 'user', 'team', 'fleet']),
  period: z.enum(['none', 'day', 'month']),
  window: z.number().int().min(0),
  covers: z.union([z.literal('all'), z.array(z.string())]),
  limit: z.number().int().min(0),
  granted: z.number().int().min(0),
  expiresAt: z.number().int(),
  spent: z.number().int(),
  leased: z.number().int(),
  unleased: z.number().int(),
  left: z.number().int(),
  /** What the panel counts this runtime as having spent in the window already (absent from an older panel). */
  floor: z.number().int().min(0).optional(),
  /** What this runtime's calls held there at its last lease call (counted as spent by one whose rows of the window are gone). */
  held: z.number().int().min(0).optional(),
  contended: z.boolean(),
  state: z.enum(['ok', 'warning', 'exhausted']),
});
const leaseOrder = z.object({ incarnation: z.number().int(), seq: z.number().int() });
const leaseAnswer = z.object({
  now: z.number().int(),
  renewInMs: z.number().int().min(0),
  /** Nothing of the call was applied: the panel had applied a later call of this runtime (`applied`). */
  stale: z.boolean().default(false),
  applied: leaseOrder.optional(),
  budgets: z.array(leaseBudget),
});

/** What the panel answers to a lease call: every central budget that covers this runtime now. */
export type LeaseAnswer = z.output<typeof leaseAnswer>;
export type LeaseBudget = z.output<typeof leaseBudget>;

/** One central budget in a lease call: the panel's contract (src/domain/budget/lease.ts). */
export type { LeaseAsk } from '../domain/budget/index.js';

/** A lease call's place in this runtime's order: the process's start (epoch ms, this machine's clock) and the call's number in it. */
export type LeaseOrder = z.output<typeof leaseOrder>;

const cursor = z.object({ eventSeq: z.number().int().min(0), llmRequestId: z.number().int().min(0), toolCallId: z.number().int().min(0) });
const hello = z.object({ runtime: z.string(), lastSeq: z.number().int().min(0), cursor });
const ack = z.object({
  runtime: z.string(),
  seq: z.number().int(),
  duplicate: z.boolean(),
  stored: z.record(z.string(), z.number()),
  // A pace outside the reasonable is not followed (a panel cannot silence a runtime for long).
  paceMs: z.number().int().min(0).max(60_000).optional().catch(undefined),
});

/** Text a panel sent, safe to put in a log line: one line, printable, short. */
const shown = (text: string): string =>
  text
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .trim()
    .slice(0, 200);

/** The panel's `{error:{message}}` (or `{error:{type}}`), else the start of the body. */
function reasonOf(body: string): string {
  try {
    const e = (JSON.parse(body) as { error?: { message?: unknown; type?: unknown; code?: unknown } }).error;
    const m = e?.message ?? e?.type ?? e?.code;
    if (typeof m === 'string') return shown(m);
  } catch {
    // not JSON: the text itself
  }
  return shown(body);
}

/** The panel's `{error:{code}}`, when it sent one. */
function codeOf(body: string): string | undefined {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? shown(code) : undefined;
  } catch {
    return undefined;
  }
}

/** A network failure as the operator knows it: ECONNREFUSED, ENOTFOUND, a certificate error, a timeout. */
export function networkReason(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  if (e?.name === 'TimeoutError' || e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT' || e?.code === 'UND_ERR_CONNECT_TIMEOUT') return 'timed out';
  const code = typeof e?.code === 'string' ? e.code : typeof e?.cause?.code === 'string' ? e.cause.code : null;
  if (code && !code.startsWith('UND_ERR_')) return code;
  return shown(String(e?.cause?.message ?? e?.message ?? err));
}

export interface PanelClientOptions {
  /** The panel's base URL (config `panel.url`). */
  url: string;
  /** The runtime token, read per request (a vault secret may be rotated); null: none to send. */
  token: () => string | null;
  /** PEM text of the CA the panel's certificate is checked against, beside the system's. */
  ca?: string | null;
  /** Bounds each exchange: a panel that accepts and never answers counts as unreachable. */
  timeoutMs?: number;
}

/**
 * The HTTP side of the telemetry contract (src/state/telemetry.ts): `GET /api/telemetry` (where
 * the panel stands) and `POST /api/telemetry` (a batch), each answer sorted into what the
 * reporter does next; `POST /api/leases` (central budgets' leases, leases.ts); and
 * `GET /api/runtime/secrets` (the panel secrets the config refers to); `GET /api/runtime/approvals`
 * (the panel's decisions on this runtime's approvals). Never throws: a failure is an answer too.
 */
export class PanelClient {
  readonly endpoint: string;
  readonly leases: string;
  /** The panel's base URL, without a trailing slash. */
  private readonly base: string;
  private readonly agent: Undici.Agent;
  private readonly timeoutMs: number;

  constructor(private readonly o: PanelClientOptions) {
    this.base = o.url.replace(/\/+$/, '');
    this.endpoint = `${this.base}/api/telemetry`;
    this.leases = `${this.base}/api/leases`;
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.agent = new (undici().Agent)({
      keepAliveTimeout: 30_000,
      connect: { timeout: 10_000, ...(o.ca ? { ca: [...rootCertificates, o.ca] } : {}) },
    });
  }

  /** The panel this client talks to (its base URL). */
  get url(): string {
    return this.base;
  }

  hello(signal: AbortSignal): Promise<PanelAnswer<TelemetryHello>> {
    return this.exchange(this.endpoint, 'GET', undefined, signal, (v) => hello.parse(v) as TelemetryHello);
  }

  /** `body`: the batch as JSON, built once and sent again as it is on a retry. */
  send(body: string, signal: AbortSignal): Promise<PanelAnswer<TelemetryAck>> {
    return this.exchange(this.endpoint, 'POST', body, signal, (v) => ack.parse(v) as TelemetryAck);
  }

  /**
   * A lease call: what this runtime would like of each central budget it knows, and its own
   * figures; `order` puts it in this runtime's order (the panel answers an older call stale).
   */
  lease(asks: readonly LeaseAsk[], signal: AbortSignal, order?: LeaseOrder): Promise<PanelAnswer<LeaseAnswer>> {
    return this.exchange(this.leases, 'POST', JSON.stringify({ ...order, budgets: asks }), signal, (v) => leaseAnswer.parse(v));
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }

  /**
   * `GET /api/runtime/secrets`: the panel secrets `names` of `environment`, or `not_modified` when
   * `etag` (the last answer's) still holds. Never throws.
   */
  async secrets(names: readonly string[], environment: string, etag: string | null, signal: AbortSignal): Promise<SecretsAnswer> {
    const q = new URLSearchParams({ names: names.join(','), environment });
    const res = await this.fetch('GET', `${this.base}/api/runtime/secrets?${q}`, undefined, etag === null ? {} : { 'if-none-match': etag }, signal);
    if (!('error' in res) && res.status === 304) return { kind: 'not_modified' };
    return this.answer(res, (v, headers) => {
      const body = runtimeSecrets.parse(v);
      const tag = headers.etag;
      return { etag: typeof tag === 'string' ? tag : null, secrets: body.secrets };
    });
  }

  /** `GET /api/runtime/approvals?after=`: the panel's decisions on this runtime's approvals after `after`, and the next cursor. Never throws. */
  async approvals(after: number, signal: AbortSignal): Promise<PanelAnswer<ApprovalDecisions>> {
    return this.exchange(`${this.base}/api/runtime/approvals?after=${after}`, 'GET', undefined, signal, (v) => approvalDecisions.parse(v));
  }

  private exchange<T>(url: string, method: 'GET' | 'POST', body: string | undefined, signal: AbortSignal, read: (v: unknown) => T): Promise<PanelAnswer<T>> {
    return this.fetch(method, url, body, {}, signal).then((res) => this.answer(res, read));
  }

  private async fetch(method: 'GET' | 'POST', url: string, body: string | undefined, extra: Record<string, string>, signal: AbortSignal): Promise<Exchanged> {
    const token = this.o.token();
    if (token === null) return { error: 'no token' };
    try {
      const res = await undici().request(url, {
        method,
        dispatcher: this.agent,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...extra, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
      });
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
    } catch (err) {
      return { error: networkReason(err) };
    }
  }

  /** What an exchange's outcome means for the caller. */
  private answer<T>(res: Exchanged, read: (v: unknown, headers: Headers) => T): PanelAnswer<T> {
    if ('error' in res) {
      if (res.error === 'no token') return { kind: 'refused', status: 0, reason: 'no runtime token: the panel.token secret is not in the vault (or the vault is locked)' };
      return { kind: 'retry', reason: res.error, retryAfterMs: null };
    }
    const { status, text, headers } = res;
    if (status >= 200 && status < 300) {
      try {
        return { kind: 'ok', value: read(JSON.parse(text), headers) };
      } catch {
        // A proxy's page, or a panel of another version: not an answer to act on.
        return { kind: 'retry', reason: `HTTP ${status} with an answer that is not the panel's`, retryAfterMs: null };
      }
    }
    if (status === 409) {
      let expectedSeq: number | null = null;
      try {
        const e = (JSON.parse(text) as { error?: { expectedSeq?: unknown } }).error?.expectedSeq;
        if (typeof e === 'number') expectedSeq = e;
      } catch {
        // the hello that follows says it anyway
      }
      return { kind: 'out_of_order', expectedSeq };
    }
    const reason = reasonOf(text);
    if (status === 401 || status === 403) return { kind: 'refused', status, reason };
    if (status === 413) return { kind: 'too_large', reason };
    if (status === 408 || status === 429 || status >= 500) return { kind: 'retry', reason: `HTTP ${status}${reason ? `: ${reason}` : ''}`, retryAfterMs: retryAfterFromHeaders(headers, Date.now()) };
    const code = codeOf(text);
    return { kind: 'rejected', status, reason, ...(code === undefined ? {} : { code }) };
  }
}

type Headers = Record<string, string | string[] | undefined>;
/** One HTTP exchange with the panel, or why there was none. */
type Exchanged = { status: number; headers: Headers; text: string } | { error: string };

/** What the panel said to a runtime's read of its secrets. */
export type SecretsAnswer = PanelAnswer<{ etag: string | null; secrets: Record<string, { value: string; version: string }> }> | { kind: 'not_modified' };
const runtimeSecrets = z.object({ secrets: z.record(z.string(), z.object({ value: z.string(), version: z.string() })) });

const approvalDecision = z.object({
  seq: z.number().int(),
  id: z.string().min(1),
  decision: z.enum(['approve', 'deny']),
  reason: z.string().nullable(),
  role: z.string(),
  name: z.string(),
  user: z.string().nullable(),
  by: z.string(),
  at: z.string(),
});
const approvalDecisions = z.object({ decisions: z.array(approvalDecision), cursor: z.number().int().min(0) });
/** What the panel answers to `GET /api/runtime/approvals`: its users' decisions, in order, and where to ask from next. */
export type ApprovalDecisions = z.output<typeof approvalDecisions>;
