import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { AnswerReading, answerRead, type Call, type Outcome } from './call.js';
import { passHeaders } from './deliver.js';
import { scrubberOf } from './credentials.js';
import type { CredentialScrubber } from '../domain/secrets/index.js';
import { GatewayError } from './errors.js';
import { discard } from './upstream.js';
import { decodeStream } from '../server/index.js';
import type { GuardResult, OutputGuard, SlotKind, StreamGuard } from './guard.js';
import type { Meter } from './meter.js';
import type { UpstreamResponse } from './providers/types.js';
import { type QuickMemo, quickChatChunk, quickResponsesDelta, withSeq } from './quick.js';
import { carriesResponse, continued, continuedEvent } from './responses-state.js';
import { formatSse, SseSplitter, type SseEvent } from './sse.js';
import { pump, type Pumped } from './stream-pump.js';
import { streamAnswerMeta } from './wire/answer-meta.js';
import { partIndex } from './wire/responses.js';
import { carriesLogprobs, mayHoldLogprobs, withholdLogprobs } from './wire/strings.js';
import type { TextSlot, Usage } from './wire/types.js';

/** A slot's key, or its index when it has none. */
type SlotKey = string | number;

/** Streamed text kept for counting when the provider sends no usage; beyond this we estimate. */
const MAX_COUNTED_CHARS = 1_000_000;

export interface StreamDeps {
  meter: Meter;
  guard: OutputGuard;
}

/** A streamed answer: relayed event by event with redaction, then settled and recorded. */
export async function deliverStream(d: StreamDeps, call: Call, up: UpstreamResponse, res: ServerResponse, clientSignal: AbortSignal): Promise<void> {
  const decoded = decodeStream(up.body, up.headers);
  if ('unreadable' in decoded) {
    // A stream we cannot read is neither relayed nor known: refused, and charged its worst case.
    discard(up.body);
    await d.meter.settle(call, {
      status: res.destroyed ? 'aborted' : 'error',
      httpStatus: up.status,
      reading: { usage: {}, complete: false },
      redactions: 0,
      firstByteMs: null,
      error: `answer in a content coding iron-cage cannot read: ${decoded.unreadable}`,
    });
    throw new GatewayError('upstream', `The upstream provider ${call.target.provider.name} answered in a content coding iron-cage cannot read (${decoded.unreadable}), so it was not passed on.`);
  }
  const pending = d.meter.openPending(call, up.status);
  const scrub = scrubberOf(call.target.provider);
  res.writeHead(up.status, { ...passHeaders(up, scrub), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  // The head leaves with the first events when they are already here (one write, not two);
  // an upstream slow to its first token still lets the agent see the head at once.
  setImmediate(flushHead, res);
  const relay = new StreamRelay(d.guard, call, scrub);
  await pump(relay, decoded.body, res, clientSignal);
  answerRead(call);
  relay.conclude(res);
  if (call.obs) call.obs.answerBody = relay.captured();
  // The upstream charged for what it produced even if the agent hung up: settle on that.
  // The pending row commits on the next tick; the stream did not wait for it (a stream that
  // ended before that commit gets its final row there instead). The last events wait for the
  // row and leave with the end of the response: on disk first.
  await d.meter.settle(call, relay.outcome(up.status), pending);
  if (!res.destroyed) res.end(relay.tail);
}

/**
 * The head out now unless events already took it. Not `res.headersSent`: that is true as soon as
 * `writeHead` has made the head, before any of it is written, so it never let this send.
 * Node's own flag for a head on the wire is `_headerSent`.
 */
function flushHead(res: ServerResponse): void {
  if (!(res as ServerResponse & { _headerSent: boolean })._headerSent && !res.destroyed) res.flushHeaders();
}

/**
 * One stream's state: what the provider said it used, the text seen (for counting), one
 * redactor per output index, and how the stream ended. `event` turns each upstream SSE event
 * into the bytes the agent gets.
 */
class StreamRelay implements Pumped {
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
  /**
   * The last chunk with choices: the shape of an extra chunk we may have to emit (OpenAI). Its
   * data as it came when it was read without JSON.parse, parsed only if that chunk is needed.
   */
  private template: unknown = null;
  /** A chat stream: its text-only chunks are read without JSON.parse (quick.ts). */
  private readonly quickChat: boolean;
  /** A Responses stream: its plain text deltas are read without JSON.parse (quick.ts). */
  private readonly quickResponses: boolean;
  /** A Responses turn that continued a stored one: each event carrying the response says which (`continued`). */
  private readonly continues: boolean;
  /** What the quick reader remembers between this stream's chunks. */
  private readonly quickMemo: QuickMemo = {};
  private readonly splitter: SseSplitter;
  /** One redactor per stream of output pieces (a slot's key), with the output it belongs to. */
  private readonly guards = new Map<SlotKey, { index: number; kind: SlotKind; guard: StreamGuard }>();
  /** What each output was sent as, redacted: what a wire's `finals` must repeat. */
  private readonly sent = new Map<SlotKey, string>();
  /** Events we inserted into a numbered stream so far: later events move up by this many. */
  private seqShift = 0;
  /** The number the next event of a numbered stream takes (for an error event we add). */
  private nextSeq = 0;
  /** Whether redaction changed any text yet (held back or replaced): repeats must then be read. */
  private rewritten = false;
  /** How many events the last flushAll emitted. */
  private flushed = 0;
  /** Whether this stream's events carry numbers (the Responses API): flushed events take them too. */
  private numbered = false;
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
    this.quickChat = call.endpoint === 'chat' && call.wire.name === 'openai';
    this.quickResponses = call.endpoint === 'responses';
    this.continues = typeof call.turn?.previousId === 'string';
  }

  /** After the pump: an agent gone is an abort; a block ends the stream with an error event. */
  conclude(res: ServerResponse): void {
    if (res.destroyed && this.status === 'ok') this.status = 'aborted';
    if (!this.blocked) return void (this.tail += this.held);
    this.status = 'blocked';
    this.error = this.blocked;
    // Nothing more of this output may reach the agent; tell it why in its own format.
    const { wire } = this.call;
    if (res.destroyed) return;
    if (wire.streamError) return void (this.tail += wire.streamError(400, 'blocked', this.blocked, this.nextSeq));
    const { body } = wire.error(400, 'blocked', this.blocked);
    this.tail += wire.name === 'anthropic' ? formatSse(body, 'error') : formatSse(body);
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
  }

  finished(): void {
    this.ended = true;
  }

  firstByte(): void {
    this.firstByteMs ??= performance.now() - this.call.t0;
  }

  events(chunks: Buffer[]): string {
    return this.batch(this.splitter.pushAll(chunks));
  }

  end(): string {
    return this.batch(this.splitter.end()) + this.flushAll();
  }

  stop(status: 'aborted' | 'error', why: string | null): void {
    if (this.status !== 'ok') return;
    this.status = status;
    this.error = why;
  }

  /** A batch of events, all sent or (on a block) none: then none of them took a number. */
  private batch(evs: SseEvent[]): string {
    const seq = this.nextSeq;
    let out = '';
    for (const ev of evs) {
      const s = this.event(ev);
      if (this.lastSeen) this.held += s;
      else out += s;
    }
    if (this.blocked) this.nextSeq = seq;
    return out;
  }

  /**
   * Every text still held back, as extra events numbered from `seq`, and the redactors ended.
   * `step`: 1 on a wire that numbers its events, else 0. Sets `flushed` to how many went out.
   */
  flushAll(seq = this.nextSeq, step = this.numbered ? 1 : 0): string {
    let out = '';
    this.flushed = 0;
    if (!this.guard.active || this.blocked || this.draining) return out;
    for (const [key, s] of this.guards) {
      const rest = this.take(s.guard.end());
      this.record(key, rest);
      if (!rest) continue;
      out += this.call.wire.flushEvent(s.index, rest, this.templateJson(), seq, { key, kind: s.kind });
      seq += step;
      this.flushed++;
    }
    this.guards.clear();
    // On a block none of it goes out, so none of it took a number (the error event takes the next).
    if (this.blocked) return '';
    this.nextSeq = seq;
    return out;
  }

  /** One upstream event in, the text for the agent out (the event as is, rewritten, or nothing). */
  private event(ev: SseEvent): string {
    const { wire } = this.call;
    if (this.draining) {
      this.readUsage(ev);
      return '';
    }
    // Not an event stream after all (a JSON body, plain text): one text, scanned whole.
    if (ev.foreign) return this.guard.active ? this.take(this.guard.text(this.call.agentId, this.ref, ev.raw)) : ev.raw;
    // Renumbering (seqShift) needs every event read; until then a wire may let some pass unread.
    // Under redaction a stream's tokens are withheld, those of events otherwise passed unread too.
    const withhold = this.guard.withholdsLogprobs === true;
    if (ev.event !== null && this.seqShift === 0 && wire.unread?.(ev.event, this.rewritten) && !(withhold && carriesLogprobs(ev.data))) {
      this.nextSeq++;
      return this.continues ? this.stamped(ev) : ev.raw;
    }
    let json: any = null;
    const quick =
      this.quickChat && ev.event === null ? quickChatChunk(ev.data, this.quickMemo) : this.quickResponses && ev.event === 'response.output_text.delta' ? quickResponsesDelta(ev.data, partIndex) : null;
    if (!quick && ev.data && ev.data !== '[DONE]') {
      try {
        json = JSON.parse(ev.data);
      } catch {
        // Not JSON (a provider's plain-text line): scanned whole, like any other answer text.
        return this.guard.active ? this.take(this.guard.text(this.call.agentId, this.ref, ev.raw)) : ev.raw;
      }
    }
    // A Responses turn that continued a stored one says so in each event carrying the response:
    // stamped once parsed, before it is read (the answer kept is the stamped one).
    let changed = this.continues && json !== null && carriesResponse(json.type) && continued(json.response, this.call.turn);
    const insp = quick ? quick.inspection : wire.inspect(ev, json);
    if (json !== null && this.call.obs) streamAnswerMeta((this.call.obs.answer ??= {}), json);
    this.note(insp.usage);
    if (insp.answer !== undefined) this.answer = insp.answer;
    const active = this.guard.active;
    let extras = '';
    // A numbered stream stays gapless: an event we insert takes this event's number.
    let seq = insp.seq ? insp.seq.n + this.seqShift : 0;
    const insert = (extra: string) => {
      extras += extra;
      if (insp.seq) {
        seq++;
        this.seqShift++;
      }
    };
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
          const extra = end.attach(rest, seq, { key, kind: s.kind });
          if (extra) insert(extra);
          else changed = true;
        }
      }
      if (insp.last) {
        extras += this.flushAll(seq, insp.seq ? 1 : 0);
        if (insp.seq) {
          seq += this.flushed;
          this.seqShift += this.flushed;
        }
      }
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
    if (withhold && json && mayHoldLogprobs(ev.data) && withholdLogprobs(json)) changed = true;
    // The final event, and all after it, leave only once the row is on disk (deliverStream).
    if (insp.last) this.lastSeen = true;
    /** Only the number changed: written into the event's bytes, not the event written anew. */
    let renumbered = false;
    if (insp.seq) {
      this.numbered = true;
      if (seq !== insp.seq.n) {
        insp.seq.set(seq);
        renumbered = true;
      }
      this.nextSeq = seq + 1;
    }
    if (quick) {
      this.template = ev.data;
      return extras + (changed || renumbered ? formatSse(quick.data(), ev.event) : ev.raw);
    }
    if (json && (insp.slots.length > 0 || (Array.isArray(json.choices) && json.choices.length > 0))) this.template = json;
    if (this.call.target.hideUsageChunk && json?.usage && Array.isArray(json.choices) && json.choices.length === 0) return extras;
    if (changed) return extras + formatSse(JSON.stringify(json), ev.event);
    if (!renumbered) return extras + ev.raw;
    return extras + formatSse(withSeq(ev.data, insp.seq!.n, seq) ?? JSON.stringify(json), ev.event);
  }

  /**
   * An event passed unread, as the agent gets it on a turn that continued a stored one: one that
   * carries the response (`response.created`…) stamped (`continued`). Only these are searched
   * for it; the events the relay parses are stamped as they are read.
   */
  private stamped(ev: SseEvent): string {
    const data = continuedEvent(ev.data, this.call.turn);
    return data === null ? ev.raw : formatSse(data, ev.event);
  }

  /** A drained event: only what it says of the usage counts. */
  private readUsage(ev: SseEvent): void {
    if (!ev.data || ev.data === '[DONE]' || (this.quickChat && ev.event === null && quickChatChunk(ev.data, this.quickMemo))) return;
    try {
      const json = JSON.parse(ev.data);
      this.note(this.call.wire.inspect(ev, json).usage);
      if (this.call.obs) streamAnswerMeta((this.call.obs.answer ??= {}), json);
    } catch {
      /* not JSON: it reports no usage */
    }
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

  private templateJson(): unknown {
    if (typeof this.template === 'string') {
      try {
        this.template = JSON.parse(this.template);
      } catch {
        this.template = null;
      }
    }
    return this.template;
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
