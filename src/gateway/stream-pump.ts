import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { errorKindOf } from '../domain/reliability/index.js';
import { describeFailure } from './errors.js';
import { discard } from './upstream.js';

/** What the pump drives: a stream relay (stream.ts), which turns upstream bytes into the agent's events. */
export interface Pumped {
  /** The first byte came (the relay notes when, once). */
  firstByte(): void;
  /** The events of these chunks, for the agent. A throw is a relay failure: the call ends as an error. */
  events(chunks: Buffer[]): string;
  /** What ends a stream that ended: the events still in the splitter and every text held back. */
  end(): string;
  /** Every text held back, as events (a stream that broke off). */
  flushAll(): string;
  /** Why the rest of the output must not reach the agent, once a block said so. */
  readonly blocked: string | null;
  /**
   * Nothing more goes to the agent (it hung up, or a block said so), but the rest of the
   * stream is still read for the usage the provider reports at its end: what the call owes.
   */
  drain(): void;
  /** The relay stops: the agent went away, or the stream failed (`why`). An earlier end stands. */
  stop(status: 'aborted' | 'error', why: string | null): void;
  /** The upstream's stream reached its end: its usage is final. */
  finished(): void;
  /** What the response ends with, sent after the row commit. */
  tail: string;
}

/**
 * Relay `body` to `res` until it ends or breaks. 'data' events rather than `for await`: no
 * promise per chunk on the hottest loop we have. The pieces one socket read delivered (undici
 * hands on each HTTP chunk alone) are relayed together once that read's callbacks are over:
 * one split, one write for all of them. Once the agent hangs up or a block stops the output,
 * the rest is still read, not written (see Pumped.drain): a hang-up does not stop what the
 * provider generates and bills, so the call is charged what its usage says.
 * @example await pump(relay, up.body, res, clientSignal); // then res.end(relay.tail)
 */
export function pump(r: Pumped, body: Readable, res: ServerResponse, clientSignal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    /** Nothing more is written: the agent is gone, or the output is blocked. */
    let draining = false;
    let inbox: Buffer[] = [];
    const finish = () => {
      if (done) return;
      done = true;
      clientSignal.removeEventListener('abort', onAbort);
      body.removeListener('data', onData);
      discard(body);
      resolve();
    };
    const drain = () => {
      if (draining) return;
      draining = true;
      r.drain();
      // Paused for a slow reader that is gone now: read on.
      if (body.isPaused()) body.resume();
    };
    const onAbort = () => {
      r.stop('aborted', null);
      drain();
    };
    /** Runs `f` (relay code), or on a throw ends the call as failed rather than stranding it. */
    const safely = <T>(f: () => T): T | null => {
      try {
        return f();
      } catch (e) {
        r.stop('error', `relay failed: ${describeFailure(e)}`);
        finish();
        return null;
      }
    };
    /** The events of what arrived so far; null once nothing more is written. */
    const take = (): string | null => {
      const chunks = inbox;
      inbox = [];
      const out = chunks.length === 0 ? '' : safely(() => r.events(chunks));
      if (out === null) return null;
      if (r.blocked) drain();
      else if (res.destroyed) onAbort();
      return done || draining ? null : out;
    };
    const relay = () => {
      if (done) return;
      const out = take();
      if (out && !res.write(out)) {
        body.pause();
        void drained(res).then(() => (res.destroyed ? onAbort() : body.resume()));
      }
    };
    const onData = (chunk: Buffer) => {
      r.firstByte();
      if (inbox.push(chunk) === 1) queueMicrotask(relay);
    };
    if (clientSignal.aborted) onAbort();
    else clientSignal.addEventListener('abort', onAbort, { once: true });
    body.on('data', onData);
    body.once('end', () => {
      if (done) return;
      const out = take();
      // A stream with no final event (cut short after an error event, no [DONE]) still
      // delivers the text held back so far, redacted.
      const rest = safely(() => r.end());
      if (rest === null) return;
      r.finished();
      if (out !== null && !r.blocked) r.tail = out + rest;
      else if (out !== null) r.tail = out;
      finish();
    });
    /** The body broke or closed before its end: what arrived before is the agent's. */
    const broke = (e: unknown) => {
      relay();
      if (done) return;
      const rest = safely(() => r.flushAll());
      if (rest === null) return;
      if (!draining && !r.blocked) r.tail = rest;
      if (res.destroyed || errorKindOf(e) === 'aborted') r.stop('aborted', null);
      else r.stop('error', `stream broke: ${describeFailure(e)}`);
      finish();
    };
    body.once('error', broke);
    // Destroyed with neither 'end' nor 'error' (as deliver.ts's readWhole knows): never wait forever.
    body.once('close', () => {
      if (!done) broke(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    });
  });
}

/** Wait until a slow reader has caught up, or has gone away. */
function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
