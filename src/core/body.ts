import type { Readable } from 'node:stream';

// A body read up to a cap: written once, for every reader of a request, an upstream's answer or
// a webhook's reply, so that no reader can let a runaway body exhaust memory.

/**
 * A body's bytes gathered up to a cap, whichever way its chunks come (a stream's `data` events,
 * through `readCapped`; an undici dispatch handler's `onResponseData`). It keeps the first
 * `limit` bytes; `add` says whether the body still fits.
 *
 * @example
 *   const body = new CappedBytes(limit);
 *   onResponseData(ctl, chunk) { if (!body.add(chunk)) ctl.abort(new TooLarge(limit)); }
 *   onResponseEnd() { use(body.bytes()); }
 */
export class CappedBytes {
  private readonly chunks: Buffer[] = [];
  /** The bytes kept (never more than `limit`). */
  size = 0;

  constructor(readonly limit: number) {}

  /** Keep `chunk`; one that takes the body past `limit` is kept only as far as the limit, and `add` answers false. */
  add(chunk: Buffer): boolean {
    const size = this.size + chunk.length;
    if (size <= this.limit) {
      this.chunks.push(chunk);
      this.size = size;
      return true;
    }
    if (this.size < this.limit) {
      this.chunks.push(chunk.subarray(0, this.limit - this.size));
      this.size = this.limit;
    }
    return false;
  }

  /** What was kept, one buffer (the one chunk itself when there was one). */
  bytes(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
  }
}

/** How `readCapped` ends a body that passes its limit or does not reach its end. */
export interface CapRules<S extends Readable = Readable> {
  /** Past the limit: the error the read rejects with; null resolves with the first `limit` bytes instead. */
  tooLarge: ((limit: number) => Error) | null;
  /**
   * What is done with the stream past the limit: `destroy` (the default), or `pause`, its data no
   * longer read but its connection left open (a request whose 413 is still to be written on it).
   */
  past?: 'destroy' | 'pause';
  /** The stream's own error, as the read rejects with it (by default the error itself). */
  failed?: (error: NodeJS.ErrnoException) => Error;
  /**
   * A close before the end: the error the read rejects with (by default Node's own for it,
   * `ERR_STREAM_PREMATURE_CLOSE`, as `for await` reports it), or null when that close is not a
   * failure (the read waits on for its end).
   */
  closed?: (body: S) => Error | null;
}

const prematureClose = (): Error => Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });

/**
 * A stream not read yet, read whole up to `limit` bytes (a `CappedBytes`). Events and one
 * promise, not `for await` (an async iterator and a promise per chunk): request bodies and
 * upstream answers go through it on every call. `rules` (best a constant: nothing is allocated
 * for it per read) says how it ends past the limit, on the stream's error and on a close before
 * the end.
 *
 * @example
 *   const body = await readCapped(up.body, 8 * 1024 * 1024, { tooLarge: (n) => new PayloadTooLargeError(n) });
 *   const head = (await readCapped(res.body, 2048, { tooLarge: null })).toString('utf8');
 */
export function readCapped<S extends Readable>(body: S, limit: number, rules: CapRules<S>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const bytes = new CappedBytes(limit);
    let ended = false;
    const onData = (chunk: Buffer) => {
      if (bytes.add(chunk)) return;
      body.removeListener('data', onData);
      if (rules.tooLarge === null) {
        ended = true;
        resolve(bytes.bytes());
      } else reject(rules.tooLarge(limit));
      if (rules.past === 'pause') body.pause();
      else body.destroy();
    };
    body.on('data', onData);
    body.once('end', () => {
      ended = true;
      resolve(bytes.bytes());
    });
    body.on('error', (e: NodeJS.ErrnoException) => reject(rules.failed ? rules.failed(e) : e));
    body.once('close', () => {
      if (ended) return;
      const error = rules.closed ? rules.closed(body) : prematureClose();
      if (error !== null) reject(error);
    });
  });
}
