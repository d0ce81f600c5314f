import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { errorKindOf } from '../domain/reliability/index.js';
import type { CredentialScrubber } from '../domain/secrets/index.js';
import { AnswerReading, type Call, type Outcome } from './call.js';
import { describeFailure } from './errors.js';
import type { HeldCalls } from './held-calls.js';
import type { GuardResult, OutputGuard, SlotKind, StreamGuard } from './guard.js';
import { SseSplitter, type SseEvent } from '../core/sse.js';
import { discard } from './upstream.js';
import { streamAnswerMeta } from './wire/answer-meta.js';
import { mayHoldLogprobs, withholdLogprobs } from './wire/strings.js';
import type { TextSlot, Usage, WireStream } from './wire/types.js';

// One streamed answer, relayed: upstream bytes pumped in, split into events, each event read by
// its wire's stream (wire/<wire>/stream.ts), its output text guarded slot by slot, and written
// out. What is the same on every wire lives here; what is one wire's lives in its folder.

/** A slot's key, or its index when it has none. */
type SlotKey = string | number;

/** Streamed text kept for counting when the provider sends no usage; beyond this we estimate. */
const MAX_COUNTED_CHARS = 1_000_000;

/**
 * One stream's state: what the provider said it used, the text seen (for counting), one
 * redactor per stream of output pieces, and how the stream ended. `event` turns each upstream
 * event into the bytes the agent gets.
 */
export class StreamRelay implements Pumped {
  private status: 'ok' | 'aborted' | 'error' | 'blocked' = 'ok';
  private error: string | null = null;
  /** Set by the block policy: why the rest of the output must not reach the agent. */
  blocked: string | null = null;
  /** What the provider reported it used, each count the largest it was said to be. */
  private readonly usage: Partial<Usage> = {};
  /** The upstream's stream reached its end (not broken off): its usage is final. */
  private ended = false;
  /** Nothing more goes to the agent: the rest is read for its usage only. */
  private draining = false;
  private text = '';
  private redactions = 0;
  private firstByteMs: number | null = null;
  private readonly splitter: SseSplitter;
  /** The wire's reader and writer of this stream. */
  private readonly wire: WireStream;
  /** One redactor per stream of output pieces (a slot's key), with the output it belongs to. */
  private readonly guards = new Map<SlotKey, { index: number; kind: SlotKind; guard: StreamGuard }>();
  /** What each output was sent as, redacted: what a wire's `finals` must repeat. */
  private readonly sent = new Map<SlotKey, string>();
  /** Whether redaction changed any text yet (held back or replaced): repeats must then be read. */
  private rewritten = false;
  /** Under redaction a stream's log-probabilities are withheld. */
  private readonly withhold: boolean;
  private readonly ref: string;
  /** The whole answer the stream ended with (a Responses stream's final response), as the agent was sent it. */
  private answer: unknown = undefined;
  /** What the response ends with: the events that came with the upstream's end, or the block's error. */
  tail = '';
  /** Whether the provider's final event went by: it and all after it wait in `held` for the row. */
  private lastSeen = false;
  /** The final event and what follows it: sent with the end of the response, after the row commit. */
  private held = '';

  constructor(
    private readonly guard: OutputGuard,
    private readonly call: Call,
    scrub: CredentialScrubber,
    /** The answer's tool calls a policy rule could decide, held back until it has (held-calls.ts); null: no rule reads them. */
    private readonly calls: HeldCalls | null = null,
  ) {
    // The provider's own credentials come out of each whole event, before anything reads it.
    this.splitter = scrub.empty
      ? new SseSplitter()
      : new SseSplitter(
          (raw) => {
            const r = scrub.text(raw);
            this.redactions += r.found;
            return r.text;
          },
          (text) => scrub.holds(text),
        );
    this.ref = `${call.endpoint}:${call.target.model}`;
    this.withhold = guard.withholdsLogprobs === true;
    this.wire = call.wire.stream({ endpoint: call.endpoint, hideUsageChunk: call.target.hideUsageChunk, previousId: call.turn?.previousId ?? null, withholdLogprobs: this.withhold });
  }

  /** After the pump: an agent gone is an abort; a block ends the stream with the wire's error event. */
  conclude(res: ServerResponse): void {
    if (res.destroyed && this.status === 'ok') this.status = 'aborted';
    if (!this.blocked) return void (this.tail += this.held);
    this.status = 'blocked';
    this.error = this.blocked;
    // Nothing more of this output may reach the agent; tell it why in its own format.
    if (!res.destroyed) this.tail += this.wire.error(this.blocked);
  }

  /** How the stream ended, for its row in llm_requests, and what was read of its usage (the Meter bills it). */
  outcome(httpStatus: number): Outcome {
    const { text, call } = this;
    return {
      status: this.status,
      httpStatus,
      // Counted only if billing needs it (no usage, or a stream cut short).
      reading: new AnswerReading(this.usage, this.ended, () => text, call.target.model),
      redactions: this.redactions,
      firstByteMs: this.firstByteMs,
      error: this.error,
      ...(this.answer !== undefined ? { answer: this.answer } : {}),
    };
  }

  /** For opt-in content capture: a Responses stream's final response as sent, else the output text relayed (up to MAX_COUNTED_CHARS). */
  captured(): unknown {
    return this.answer ?? this.text;
  }

  drain(): void {
    this.draining = true;
    // What tool calls held back is not sent now either: read for its usage only.
    if (this.calls) for (const ev of this.calls.drop()) this.event(ev);
  }

  /** Tool calls wait for a person: the rest of the answer is held until they are decided (`decided`, then `released`). */
  get waiting(): boolean {
    return this.calls?.waiting === true;
  }

  /** Events are still held for tool calls (waiting for a person, or decided since the stream's end): `released` sends them. */
  get holding(): boolean {
    return this.calls !== null && (this.calls.waiting || this.calls.held.length > 0);
  }

  /** What the call owes, counting the usage in the events held for a person's decision (they are not sent yet). */
  owed(httpStatus: number): Outcome {
    for (const ev of this.calls?.held ?? []) this.note(this.wire.usage(ev));
    return this.outcome(httpStatus);
  }

  /** Resolves once every held tool call is decided. */
  async decided(): Promise<void> {
    await this.calls?.settled();
  }

  /** Once every held tool call is decided: the events held for them, as the agent gets them, and every text held back. */
  released(): string {
    if (this.calls === null) return '';
    this.sending();
    if (this.draining) {
      for (const ev of this.calls.drop()) this.event(ev);
      return '';
    }
    const out = this.batch(this.calls.release(), false);
    // A block in them sends none of them: the error event that ends the stream says why (`conclude`).
    return this.blocked ? '' : out + this.flushHeld();
  }

  finished(): void {
    this.ended = true;
  }

  firstByte(): void {
    this.firstByteMs ??= performance.now() - this.call.t0;
  }

  /** A batch of events, all sent or (on a block) none. */
  events(chunks: Buffer[]): string {
    this.sending();
    return this.batch(this.splitter.pushAll(chunks));
  }

  end(): string {
    this.sending();
    const out = this.batch(this.splitter.end()) + (this.calls && !this.draining ? this.batch(this.calls.end(), false) : '');
    // Text held back goes with the events still held for a person's decision, when they go.
    return this.waiting ? out : out + this.flushHeld();
  }

  flushAll(): string {
    this.sending();
    // A tool call not yet decided when the stream broke never reaches the agent.
    this.calls?.drop();
    return this.flushHeld();
  }

  stop(status: 'aborted' | 'error', why: string | null): void {
    if (this.status !== 'ok') return;
    this.status = status;
    this.error = why;
  }

  /** All written before is sent: what follows is dropped whole if a block comes in it. */
  private sending(): void {
    if (this.blocked === null) this.wire.mark();
  }

  /** Upstream events (`upstream`: through the tool calls' hold, when there is one), as the agent gets them. */
  private batch(evs: SseEvent[], upstream = true): string {
    let out = '';
    for (const ev of evs) {
      if (!upstream || this.calls === null || this.draining) out += this.one(ev);
      else for (const e of this.calls.push(ev)) out += this.one(e);
    }
    return out;
  }

  /** One event for the agent: the final one, and all after it, wait in `held` for the row. */
  private one(ev: SseEvent): string {
    const s = this.event(ev);
    if (!this.lastSeen) return s;
    this.held += s;
    return '';
  }

  /** Every text still held back, as extra events, and the redactors ended. */
  private flushHeld(): string {
    let out = '';
    if (!this.guard.active || this.blocked || this.draining) return out;
    for (const [key, s] of this.guards) {
      const rest = this.take(s.guard.end());
      this.record(key, rest);
      if (rest) out += this.wire.flush(s.index, rest, { key, kind: s.kind });
    }
    this.guards.clear();
    // On a block none of it goes out.
    return this.blocked ? '' : out;
  }

  /** One upstream event in, the text for the agent out (the event as is, rewritten, or nothing). */
  private event(ev: SseEvent): string {
    const { wire } = this;
    if (this.draining) {
      this.note(wire.usage(ev));
      if (wire.json !== null && this.call.obs) streamAnswerMeta((this.call.obs.answer ??= {}), wire.json);
      return '';
    }
    // Not an event stream after all (a JSON body, plain text): one text, scanned whole.
    if (ev.foreign) return this.whole(ev);
    const insp = wire.read(ev, this.rewritten);
    // Not JSON (a provider's plain-text line): scanned whole, like any other answer text.
    if (insp === null) return this.whole(ev);
    if (typeof insp === 'string') return insp;
    const { json } = wire;
    if (json !== null && this.call.obs) streamAnswerMeta((this.call.obs.answer ??= {}), json);
    this.note(insp.usage);
    if (insp.answer !== undefined) this.answer = insp.answer;
    const active = this.guard.active;
    let changed = false;
    let extras = '';
    for (const slot of insp.slots) {
      if (this.text.length < MAX_COUNTED_CHARS) this.text += slot.text;
      if (!active) continue;
      const key = slot.key ?? slot.index;
      const out = this.take(this.guardFor(key, slot).push(slot.text));
      this.record(key, out);
      if (out !== slot.text) {
        slot.set(out);
        changed = this.rewritten = true;
      }
    }
    if (active) {
      // An output's end ends each of its streams (a choice's text, refusal and tool calls).
      for (const end of insp.ends) {
        for (const [key, s] of this.guards) {
          if (s.index !== end.index) continue;
          this.guards.delete(key);
          const rest = this.take(s.guard.end());
          if (!rest) continue;
          this.record(key, rest);
          this.rewritten = true;
          const extra = wire.attach(end, rest, { key, kind: s.kind });
          if (extra) extras += extra;
          else changed = true;
        }
      }
      if (insp.last) extras += this.flushHeld();
      for (const f of insp.finals ?? []) {
        const key = f.key ?? f.index;
        let sent = this.sent.get(key);
        // A whole text with no deltas before it (an upstream that sends only the done events):
        // scanned here, once, like any other output.
        if (sent === undefined && f.text) {
          const g = this.guard.stream(this.call.agentId, this.ref, f.kind);
          sent = this.take(g.push(f.text)) + this.take(g.end());
          this.record(key, sent);
        }
        if (sent !== undefined && sent !== f.text) {
          f.set(sent);
          changed = this.rewritten = true;
        }
      }
    }
    // A piece's tokens would leave before the redactor knows whether it is PII (it holds text
    // back until it does): under redaction a stream carries none.
    if (this.withhold && json && mayHoldLogprobs(ev.data) && withholdLogprobs(json)) changed = true;
    // The final event, and all after it, leave only once the row is on disk (deliverStream).
    if (insp.last) this.lastSeen = true;
    return extras + wire.write(changed);
  }

  /** An event that is one text, scanned whole. */
  private whole(ev: SseEvent): string {
    return this.guard.active ? this.take(this.guard.text(this.call.agentId, this.ref, ev.raw)) : ev.raw;
  }

  /**
   * A stream's counts only grow (Anthropic's output_tokens runs on; a provider may repeat a
   * count in part): the largest each was said to be, so a later partial figure charges no less.
   */
  private note(u: Partial<Usage> | undefined): void {
    if (!u) return;
    for (const k of ['promptTokens', 'completionTokens', 'cacheReadTokens', 'cacheWriteTokens'] as const) {
      const v = u[k];
      if (v !== undefined) this.usage[k] = Math.max(this.usage[k] ?? 0, v);
    }
  }

  private record(key: SlotKey, text: string): void {
    if (text) this.sent.set(key, (this.sent.get(key) ?? '') + text);
  }

  private guardFor(key: SlotKey, slot: TextSlot): StreamGuard {
    let s = this.guards.get(key);
    if (!s) {
      const kind = slot.kind ?? 'text';
      this.guards.set(key, (s = { index: slot.index, kind, guard: this.guard.stream(this.call.agentId, this.ref, kind) }));
    }
    return s.guard;
  }

  private take(r: GuardResult): string {
    this.redactions += r.redactions;
    if (r.block) this.blocked ??= r.block;
    return r.text;
  }
}

/** What the pump drives: the relay below, which turns upstream bytes into the agent's events. */
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
