import { CappedBytes } from '../core/body.js';
import { type Undici, undici } from '../core/on-first-use.js';
import type { FaultKind } from '../domain/reliability/index.js';
import { decodeBody, type DecodedBody } from '../server/index.js';

/** What one live attempt produced, before redaction. */
export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body was decompressed here, so it is plain whatever content-encoding said. */
  decoded: boolean;
  /**
   * The content coding we could not undo (`zstd`, a made-up one): the body is still compressed,
   * so the PII scan cannot read it. Null for a plain or decoded body.
   */
  unreadable: string | null;
  /** Time from sending to the last body byte. */
  upstreamMs: number;
  /** Produced by a fault plan, not by the service. */
  fault: boolean;
}

/** The upstream did not answer within the service's timeout. The name is what errorKindOf reads. */
export class UpstreamTimeoutError extends Error {
  override readonly name = 'TimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

/** The agent hung up: says nothing about the upstream's health. */
export class ClientAbortError extends Error {
  override readonly name = 'AbortError';
  constructor() {
    super('the client closed the connection');
  }
}

export class ResponseTooLargeError extends Error {
  constructor(readonly limitBytes: number) {
    super(`the upstream response is larger than ${limitBytes} bytes`);
  }
}

/** A simulated connection failure from a fault plan; the code is what errorKindOf reads. */
class InjectedConnectionError extends Error {
  readonly code = 'ECONNREFUSED';
  constructor() {
    super('connection refused (injected fault)');
  }
}

export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * Whether the agent is still waiting for its answer. Lighter than an AbortSignal, which would
 * be one more object and listener list per call on the hot path; one listener at a time is
 * all an attempt needs.
 */
export class ClientLink {
  gone = false;
  private listener: (() => void) | null = null;

  hangUp(): void {
    if (this.gone) return;
    this.gone = true;
    const l = this.listener;
    this.listener = null;
    l?.();
  }

  onHangUp(fn: () => void): () => void {
    this.listener = fn;
    return () => {
      if (this.listener === fn) this.listener = null;
    };
  }
}

export function createDispatcher(connectTimeoutMs: number): Undici.Agent {
  // Keep-alive is what keeps the proxy's added latency small; a few idle sockets per upstream.
  return new (undici().Agent)({ keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connect: { timeout: connectTimeoutMs } });
}

export interface UpstreamCall {
  dispatcher: Undici.Agent;
  url: URL;
  method: string;
  headers: Record<string, string | string[]>;
  body: Buffer | null;
  timeoutMs: number;
  client: ClientLink;
  maxBytes?: number;
}

/**
 * One exchange with the upstream, bounded by `timeoutMs` as a whole (connect, headers and
 * body). Undici's dispatch API rather than `request()`: the answer is buffered anyway, so the
 * Readable stream, AbortSignal and wrapper objects `request()` makes per call are pure cost
 * on the proxy's hot path.
 */
export function callUpstream(c: UpstreamCall): Promise<UpstreamResponse> {
  if (c.client.gone) return Promise.reject(new ClientAbortError());
  const limit = c.maxBytes ?? MAX_RESPONSE_BYTES;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let controller: Undici.Dispatcher.DispatchController | null = null;
    let stopped: Error | null = null;
    let done = false;
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    const answer = new CappedBytes(limit);

    const finish = (error: Error | null, value?: UpstreamResponse): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      off();
      if (error) reject(error);
      else resolve(value!);
    };
    // Our reasons win over whatever undici reports for the aborted request afterwards.
    const stop = (error: Error): void => {
      stopped ??= error;
      controller?.abort(error);
      finish(error);
    };
    const timer = setTimeout(() => stop(new UpstreamTimeoutError(c.timeoutMs)), c.timeoutMs);
    const off = c.client.onHangUp(() => stop(new ClientAbortError()));

    const handler: Undici.Dispatcher.DispatchHandler = {
      onRequestStart(ctl) {
        controller = ctl;
        // Stopped while the request waited for a connection: never send it.
        if (stopped) ctl.abort(stopped);
      },
      onResponseStart(_ctl, statusCode, responseHeaders) {
        if (statusCode < 200) return; // 1xx: informational, the real answer follows
        status = statusCode;
        headers = responseHeaders as Record<string, string | string[] | undefined>;
      },
      onResponseData(ctl, chunk) {
        if (answer.add(chunk)) return;
        const error = new ResponseTooLargeError(limit);
        stopped ??= error;
        ctl.abort(error);
        finish(error);
      },
      onResponseEnd() {
        try {
          const { body, decoded, unreadable } = decodeOrTooLarge(answer.bytes(), headers, limit);
          finish(null, { status, headers, body, decoded, unreadable, upstreamMs: performance.now() - started, fault: false });
        } catch (error) {
          finish(error as Error);
        }
      },
      onResponseError(_ctl, error) {
        finish(stopped ?? error);
      },
    };
    try {
      c.dispatcher.dispatch(
        {
          origin: c.url.origin,
          path: c.url.pathname + c.url.search,
          method: c.method as Undici.Dispatcher.HttpMethod,
          headers: c.headers,
          body: c.body,
          // Our own timer bounds the whole exchange; undici's per-phase timers would only race it.
          headersTimeout: 0,
          bodyTimeout: 0,
        },
        handler,
      );
    } catch (error) {
      finish(error as Error);
    }
  });
}

/** `decodeBody`, with an answer that decodes past the limit refused like one that arrived too large. */
function decodeOrTooLarge(raw: Buffer, headers: Record<string, string | string[] | undefined>, limit: number): DecodedBody {
  try {
    return decodeBody(raw, headers, limit);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new ResponseTooLargeError(limit);
    throw error;
  }
}

/** What a fault plan makes the upstream do instead of being called. */
export function injectedFault(fault: FaultKind, service: string, timeoutMs: number): UpstreamResponse {
  if (fault === 'timeout') throw new UpstreamTimeoutError(timeoutMs);
  if (fault === 'connection') throw new InjectedConnectionError();
  const body = Buffer.from(JSON.stringify({ error: { code: 'fault_injected', message: `fault injected by iron-cage: ${service} answers ${fault}` } }));
  return { status: fault, headers: { 'content-type': 'application/json' }, body, decoded: false, unreadable: null, upstreamMs: 0, fault: true };
}
