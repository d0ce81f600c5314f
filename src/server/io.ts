import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import { type CapRules, readCapped } from '../core/body.js';
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
  const early = ahead.get(req);
  if (early !== undefined) {
    ahead.delete(req);
    return early;
  }
  const length = req.headers['content-length'];
  const declared = Number(length);
  if (declared > limit) return Promise.reject(new PayloadTooLargeError(limit));
  if (declared === 0 || (length === undefined && req.headers['transfer-encoding'] === undefined)) return Promise.resolve(EMPTY);
  return readCapped(req, limit, REQUEST_BODY);
}

const clientAborted = () => new BodyReadError('the client closed the connection before the body ended', 'client_aborted');

/** How a request's body is read: its 413 goes out with the rest unread, then the connection closes. */
const REQUEST_BODY: CapRules<IncomingMessage> = {
  tooLarge: (limit) => new PayloadTooLargeError(limit),
  past: 'pause',
  // A client that hangs up mid-body sends no 'end': Node reports an 'aborted' error, or only
  // 'close'. Either way the caller must not wait forever.
  failed: (e) => (e.code === 'ECONNRESET' ? clientAborted() : new BodyReadError(`could not read the request body: ${e.message}`, 'bad_body')),
  closed: (req) => (req.complete ? null : clientAborted()),
};

/** Bodies read ahead of their handler, each taken by the `readBody` that comes for it. */
const ahead = new WeakMap<IncomingMessage, Promise<Buffer>>();

/**
 * Start reading a request's body now, for the `readBody` its handler calls later to take, with
 * the same outcome (`limit` should be that call's). For a call held before it is handled (the
 * pause gate): Node stops reading a socket once about 16 KB of body wait unread, and a caller
 * that hangs up behind them would go unseen.
 *
 * @example
 *   readBodyAhead(req, limit).catch(onBodyError); // …later: await readBody(req, limit)
 */
export function readBodyAhead(req: IncomingMessage, limit: number): Promise<Buffer> {
  const p = readBody(req, limit);
  ahead.set(req, p);
  // Whoever reads it later hears how it ended; none may never come (the call left the gate).
  p.catch(() => {});
  return p;
}

/**
 * Collect a readable whole (an upstream's JSON answer), capped so a runaway upstream cannot
 * exhaust memory: past `limit` bytes it throws `PayloadTooLargeError`.
 */
export function collect(body: Readable, limit = 64 * 1024 * 1024): Promise<Buffer> {
  return readCapped(body, limit, COLLECTED);
}

const COLLECTED: CapRules = { tooLarge: (limit) => new PayloadTooLargeError(limit) };

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

/**
 * The content codings of a body, in the order to undo them (the last applied first). Every
 * Content-Encoding line counts (undici gives repeated lines as an array): one that only the
 * first line was read of would pass a compressed body as plain text. `identity` is none.
 */
function contentCodings(headers: Record<string, string | string[] | undefined>): string[] {
  const v = headers['content-encoding'];
  const header = (Array.isArray(v) ? v.join(',') : (v ?? '')).toLowerCase();
  return header
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '' && c !== 'identity')
    .reverse();
}

/** A body as it was sent, decoded: `unreadable` names a content coding that could not be undone (the body is then as it came). */
/** A body with its content codings undone (`decodeBody`, `decodeStream`), or as it came with the one that cannot be undone named in `unreadable`. */
export interface Decoded<B> {
  body: B;
  unreadable: string | null;
}

export interface DecodedBody extends Decoded<Buffer> {
  decoded: boolean;
}

/**
 * An upstream's body with its content codings undone. We ask upstreams for identity; one that
 * compresses anyway is decoded so what it says can be scanned, counted and cached, and a coding
 * we cannot undo (zstd before Node 22.15, a made-up one) is named, never read as plain text.
 * A body that decodes past `limit` throws with code ERR_BUFFER_TOO_LARGE.
 *
 * @example
 *   const { body, unreadable } = decodeBody(raw, res.headers, 8 * 1024 * 1024);
 */
export function decodeBody(raw: Buffer, headers: Record<string, string | string[] | undefined>, limit: number): DecodedBody {
  const codings = contentCodings(headers);
  if (codings.length === 0 || raw.length === 0) return { body: raw, decoded: false, unreadable: null };
  const unknown = codings.find((c) => UNDO[c] === undefined);
  if (unknown !== undefined) return { body: raw, decoded: false, unreadable: unknown };
  const opts = { maxOutputLength: limit };
  try {
    let body = raw;
    for (const c of codings) body = UNDO[c]!(body, opts);
    return { body, decoded: true, unreadable: null };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw error;
    throw Object.assign(new Error(`undecodable ${codings.reverse().join(', ')} body`), { code: 'HPE_INVALID_ENCODING' });
  }
}

type Undo = (b: Buffer, o: { maxOutputLength: number }) => Buffer;
/** zstd where this Node has it (22.15 and later). */
const zstd = (zlib as { zstdDecompressSync?: Undo }).zstdDecompressSync;

const UNDO: Record<string, Undo> = {
  gzip: zlib.gunzipSync,
  'x-gzip': zlib.gunzipSync,
  deflate: zlib.inflateSync,
  br: zlib.brotliDecompressSync,
  ...(zstd ? { zstd } : {}),
};

type Decoder = () => NodeJS.ReadWriteStream;
const UNDO_STREAM: Record<string, Decoder> = {
  gzip: zlib.createGunzip,
  'x-gzip': zlib.createGunzip,
  deflate: zlib.createInflate,
  br: zlib.createBrotliDecompress,
  ...((zlib as { createZstdDecompress?: Decoder }).createZstdDecompress ? { zstd: (zlib as unknown as { createZstdDecompress: Decoder }).createZstdDecompress } : {}),
};

/**
 * `decodeBody` for a body read as it flows (an event stream), in the same shape: the codings
 * undone on the way, or the body as it came and the coding that cannot be undone, named. A
 * decoding error ends the returned stream with it.
 *
 * @example
 *   const d = decodeStream(up.body, up.headers);
 *   if (d.unreadable !== null) refuse(d.unreadable); else relay(d.body);
 */
export function decodeStream(body: Readable, headers: Record<string, string | string[] | undefined>): Decoded<Readable> {
  const codings = contentCodings(headers);
  if (codings.length === 0) return { body, unreadable: null };
  const unknown = codings.find((c) => UNDO_STREAM[c] === undefined);
  if (unknown !== undefined) return { body, unreadable: unknown };
  const stages = codings.map((c) => UNDO_STREAM[c]!());
  return { body: pipeline([body, ...stages] as unknown as [Readable, NodeJS.ReadWriteStream], () => {}) as unknown as Readable, unreadable: null };
}
