import type { IncomingMessage, ServerResponse } from 'node:http';
import { PayloadTooLargeError, ValidationError } from '../core/errors.js';

// Plain Node body reading and JSON writing for the hot paths (the LLM gateway, the tool proxy),
// which stream bodies and so do not go through Hono's Request/Response objects.

/** The request body could not be read to its end. `reason` says why, for the caller's records. */
export class BodyReadError extends ValidationError {
  constructor(
    message: string,
    readonly reason: 'bad_body' | 'client_aborted',
  ) {
    super(message);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Read a request body whole. Refuses with `PayloadTooLargeError` before reading when
 * Content-Length says too much, or as soon as the bytes pass `limit`; the caller answers 413
 * with `connection: close`, since the rest of the body is never read. A request that declares
 * no body resolves to an empty buffer without waiting for the stream.
 *
 * @example
 *   const body = await readBody(req, 10 * 1024 * 1024);
 *   const payload = body.length === 0 ? null : body;
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const length = req.headers['content-length'];
  const declared = Number(length);
  if (declared > limit) return Promise.reject(new PayloadTooLargeError(limit));
  if (declared === 0 || (length === undefined && req.headers['transfer-encoding'] === undefined)) return Promise.resolve(EMPTY);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeListener('data', onData);
        // Stop reading: the 413 goes out now and the connection closes behind it.
        req.pause();
        reject(new PayloadTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    // A client that hangs up mid-body sends no 'end': Node reports an 'aborted' error, or only
    // 'close'. Either way the caller must not wait forever.
    const aborted = () => reject(new BodyReadError('the client closed the connection before the body ended', 'client_aborted'));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET') aborted();
      else reject(new BodyReadError(`could not read the request body: ${e.message}`, 'bad_body'));
    });
    req.on('close', () => {
      if (!req.complete) aborted();
    });
  });
}

/**
 * Collect a readable whole (an upstream's JSON answer), capped so a runaway upstream cannot
 * exhaust memory: past `limit` bytes it throws `PayloadTooLargeError`.
 */
export async function collect(body: NodeJS.ReadableStream, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new PayloadTooLargeError(limit);
    chunks.push(c);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/**
 * Answer with JSON: `body` is serialized unless it already is a string or a buffer. Returns the
 * bytes written. When part of an answer has already gone out, the connection is cut instead, so
 * the client cannot take a truncated answer for a whole one; a finished or destroyed response is
 * left alone. Either way it writes nothing and returns 0.
 *
 * @example
 *   const { status, body, headers } = toErrorResponse(err);
 *   sendJson(res, status, body, headers);
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): number {
  if (res.headersSent || res.destroyed) {
    if (!res.writableEnded) res.destroy();
    return 0;
  }
  const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const bytes = Buffer.byteLength(text);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes, ...headers });
  res.end(text);
  return bytes;
}

/** How deeply JSON from a client may nest. Real payloads stay under 20; every recursive walk downstream (zod, redaction, stringify, a provider) stays far from the stack's end. */
export const MAX_JSON_DEPTH = 64;

/** JSON nested deeper than the limit: refused before anything recursive walks it. */
export class JsonTooDeepError extends ValidationError {
  constructor(readonly limit: number) {
    super(`JSON nested deeper than ${limit} levels`, 'json_too_deep');
  }
}

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The deepest nesting of `[`/`{` in JSON text, counted in one loop (no recursion, so the check
 * itself cannot overflow), ignoring brackets inside strings. Stops early once past `limit`.
 *
 * @example
 *   jsonDepth('{"a":[1,{"b":"[["}]}') // 3
 */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return max;
}

/**
 * JSON.parse with the depth limit every route shares: too deep → `JsonTooDeepError` (a 400),
 * checked before parsing. Syntax errors are JSON.parse's own SyntaxError, for the caller to word.
 *
 * @example
 *   const body = parseBoundedJson(text); // throws JsonTooDeepError on '[[[[…'
 */
export function parseBoundedJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (jsonDepth(text, maxDepth) > maxDepth) throw new JsonTooDeepError(maxDepth);
  return JSON.parse(text);
}
