import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type CapRules, readCapped } from '../core/body.js';
import { AnswerReading, answerRead, type Call, type Reading } from './call.js';
import { answerMeta } from './wire/answer-meta.js';
import { scrubberOf } from './credentials.js';
import type { CredentialScrubber } from '../domain/secrets/index.js';
import { describeFailure, extractMessage, GatewayError } from './errors.js';
import { guardErrorBody, type OutputGuard } from './guard.js';
import { withholdLogprobs } from './wire/strings.js';
import type { TextSlot } from './wire/types.js';
import { collect, decodeBody, decodeStream, sendJson } from '../server/index.js';
import type { Meter, PendingRow } from './meter.js';
import type { UpstreamResponse } from './providers/types.js';
import { StreamRelay, pump } from './relay.js';
import { HeldCalls, withholdWhole, type AnswerPolicy } from './held-calls.js';
import { discard, sdkMayRetry } from './upstream.js';
import { continued } from './wire/responses/continued.js';
import { producesOutput } from './wire/wires.js';
import { isRetryableOutcome } from '../domain/reliability/index.js';

export interface DeliverDeps {
  meter: Meter;
  guard: OutputGuard;
  /** The tool policies that read the tool calls in answers (`match.llm_tool`); none: nothing is held. */
  tools?: AnswerPolicy | undefined;
}

const FORWARD_RESPONSE_HEADER = /^(x-request-id|request-id|openai-|anthropic-|x-ratelimit-|retry-after|x-should-retry$)/;

/** The provider's headers worth passing on to the agent (ids, rate limits, Retry-After), its credentials taken out. */
export function passHeaders(up: UpstreamResponse, scrub: CredentialScrubber): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && FORWARD_RESPONSE_HEADER.test(k)) out[k] = scrub.text(Array.isArray(v) ? v.join(', ') : v).text;
  return out;
}

/** An upstream error, recorded, then passed on in the provider's own shape. */
export async function relayUpstreamError(d: DeliverDeps, call: Call, up: UpstreamResponse, res: ServerResponse): Promise<void> {
  const scrub = scrubberOf(call.target.provider);
  const raw = scrub.buffer(await collect(up.body, 1024 * 1024).catch(() => Buffer.from(''))).body;
  let parsed: unknown = null;
  let text = raw.toString('utf8');
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON: our own wording replaces it below (the text reaches neither the agent nor the request row) */
  }
  // An error can quote the prompt or the answer: redacted before the agent or the request row sees it.
  let stored = parsed;
  let redactions = 0;
  if (d.guard.active) ({ parsed, text, stored, redactions } = guardErrorBody(d.guard, call.agentId, `${call.endpoint}:${call.target.model}`, parsed, text));
  const message = extractMessage(parsed) ?? `upstream answered ${up.status}`;
  // The request row keeps the always-redacted copy (warn mode gives the agent the text unchanged).
  const recorded = extractMessage(stored) ?? message;
  // An error answer is not billed.
  await d.meter.settle(call, { status: 'error', httpStatus: up.status, reading: null, redactions, firstByteMs: null, error: recorded.slice(0, 500) });
  // The provider's own error body, in its own shape, so the SDK raises its usual exception.
  const body = parsed !== null ? text : call.wire.error(up.status, up.status === 429 ? 'rate_limit' : 'upstream', message).body;
  const headers = passHeaders(up, scrub);
  // Retried here already, or not worth retrying: the SDK must not multiply our attempts by its own.
  if (!sdkMayRetry(call) || !isRetryableOutcome({ status: up.status })) headers['x-should-retry'] = 'false';
  sendJson(res, up.status, body, headers);
}

/** An embeddings answer past this many bytes has its usage read from its end, not the whole body parsed. */
const BIG_VECTORS = 1024 * 1024;

/**
 * A large embeddings answer's `usage`, read from its end: the body is vectors (numbers, or
 * base64 strings), which nobody scans, and parsing tens of megabytes of them would stall every
 * other call and the dashboard for a second. Only a body that is one JSON object ending in a
 * `usage` member qualifies; anything else is parsed whole.
 */
function vectorsUsage(raw: Buffer): { usage: unknown } {
  const tail = raw.subarray(Math.max(0, raw.length - 4096)).toString('utf8');
  const at = tail.lastIndexOf('"usage"');
  if (raw[0] !== 0x7b /* { */ || at < 0 || !/}\s*}\s*$/.test(tail)) return JSON.parse(raw.toString('utf8'));
  const usage: unknown = JSON.parse(`{${tail.slice(at, tail.lastIndexOf('}'))}}`).usage;
  return { usage };
}

/** The most a whole answer may be, decoded: a provider's answers are far smaller; a larger one is refused, not read. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/** A whole answer past the limit is not read on; one destroyed before its end is lost (`Premature close`). */
const WHOLE_ANSWER: CapRules = { tooLarge: (limit) => Object.assign(new Error(`answer larger than ${limit} bytes`), { code: 'ERR_BUFFER_TOO_LARGE' }) };

/**
 * A whole answer (what the provider sent as one body, whatever the agent asked): read to its
 * end even when the agent has hung up (its usage is what the call owes), decoded, redacted,
 * settled and recorded, then sent with its cost if the agent is still there. An answer that
 * cannot be read (it broke off, or came in a content coding we cannot undo) is charged the
 * call's worst case and refused, never passed on unscanned.
 */
export async function deliverWhole(d: DeliverDeps, call: Call, up: UpstreamResponse, res: ServerResponse): Promise<void> {
  const t = call.target;
  const ref = `${call.endpoint}:${t.model}`;
  const gone = () => (res.destroyed ? 'aborted' : 'error');
  const scrub = scrubberOf(t.provider);
  let raw: Buffer;
  let echoed = 0;
  try {
    const read = decodeBody(await readCapped(up.body, MAX_ANSWER_BYTES, WHOLE_ANSWER), up.headers, MAX_ANSWER_BYTES);
    if (read.unreadable !== null) return await refuseUnreadable(d, call, up, res, read.unreadable);
    // The provider's own credentials out first, whatever the PII policy: an answer echoing them is neither delivered nor recorded with them.
    ({ body: raw, found: echoed } = scrub.buffer(read.body));
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    // The provider answered but the body never arrived whole (the connection broke, it was too
    // large): what it billed is unknown, so the call owes its worst case.
    await d.meter.settle(call, {
      status: gone(),
      httpStatus: up.status,
      reading: { usage: {}, complete: false },
      redactions: 0,
      firstByteMs: null,
      error: `response body lost: ${describeFailure(e)}`,
    });
    if (!res.destroyed) throw new GatewayError('upstream', `The upstream provider ${t.provider.name} broke off its answer.`);
    return;
  }
  answerRead(call);
  const firstByteMs = performance.now() - call.t0;
  let parsed: any = null;
  try {
    parsed = !producesOutput(call.endpoint) && raw.length > BIG_VECTORS ? vectorsUsage(raw) : JSON.parse(raw.toString('utf8'));
  } catch {
    /* not JSON: one text, scanned whole; its usage unknown */
  }
  let out: string | Buffer = raw;
  let redactions = echoed;
  // A body that is not a JSON object is one text, scanned whole like any answer.
  const isObject = parsed !== null && typeof parsed === 'object';
  let slots: TextSlot[] = isObject ? call.wire.textSlots(parsed) : [];
  // JSON the wire finds no output in (an array, a shape it does not know): every string in it,
  // decoded, so it stays valid JSON; anything else is one text. Embeddings are vectors, not output.
  const whole = slots.length === 0 && !(isObject && !producesOutput(call.endpoint));
  if (whole) slots = [{ index: 0, text: raw.toString('utf8'), ...(isObject ? { kind: 'json' as const } : {}), set: (t) => (out = t) }];
  const usage = isObject ? call.wire.usage(parsed, call.endpoint) : {};
  if (call.obs && isObject) call.obs.answer = answerMeta(parsed);
  // A Responses turn that continued a stored one says so (the provider was sent the context, not the id).
  const stamped = !whole && continued(parsed, call.turn?.previousId);
  // Counted only if billing needs it (a usage with a count missing): a BPE pass over the answer otherwise wasted.
  const reading = (): Reading => new AnswerReading(usage, true, () => slots.map((s) => s.text).join(''), t.model);
  if (d.guard.active && slots.length > 0) {
    let changed = false;
    for (const slot of slots) {
      const g = d.guard.text(call.agentId, ref, slot.text, slot.kind);
      if (g.block) {
        // The provider charged for output the agent will never see; the budget still pays it.
        await d.meter.settle(call, { status: 'blocked', httpStatus: 400, reading: reading(), redactions: g.redactions, firstByteMs, error: g.block });
        throw new GatewayError('blocked', g.block, false, undefined, 'pii_blocked');
      }
      redactions += g.redactions;
      if (g.text !== slot.text) {
        slot.set(g.text);
        changed = true;
      }
    }
    // The tokens' log-probabilities would spell out what redaction replaced: withheld with it.
    if (changed && !whole) {
      withholdLogprobs(parsed);
      out = JSON.stringify(parsed);
    } else if (changed && isObject) out = withheldEverywhere(String(out));
  }
  // The tool calls the agent would run, put to the policy (after redaction: the rules read what the agent would get).
  let pending: PendingRow | null = null;
  if (d.tools?.watchesAnswers && isObject && !whole) {
    const w = withholdWhole(d.tools, call, parsed);
    let withheld: number;
    if (w instanceof Promise) {
      // A person decides: the answer is on record meanwhile, and the call holds only what it owes.
      pending = d.meter.openPending(call, up.status);
      d.meter.hold(call, reading());
      withheld = await w;
    } else withheld = w;
    if (withheld > 0) out = JSON.stringify(parsed);
  }
  if (stamped && out === raw) out = JSON.stringify(parsed);
  // Opt-in content capture reads the answer as the agent is sent it: after redaction.
  if (call.obs) call.obs.answerBody = whole ? String(out) : parsed;
  // An agent that hung up is still charged what its answer used; it just is not sent.
  // (One whose call waited for a person and hung up meanwhile too: its approval was withdrawn.)
  const hungUp = res.destroyed || (pending !== null && call.signal?.aborted === true);
  const micros = await d.meter.settle(
    call,
    {
      status: hungUp ? 'aborted' : 'ok',
      httpStatus: up.status,
      reading: reading(),
      redactions,
      firstByteMs,
      error: null,
      ...(isObject && !whole ? { answer: parsed } : {}),
    },
    pending,
  );
  if (hungUp) return;
  // Its content type as it was, but for a coding we undid: the body is plain now.
  const headers = { ...passHeaders(up, scrub), 'content-type': String(up.headers['content-type'] ?? 'application/json'), 'x-iron-cage-cost-usd': (micros / 1_000_000).toFixed(6) };
  res.writeHead(up.status, { ...headers, 'content-length': Buffer.byteLength(out) });
  res.end(out);
}

/**
 * A streamed answer: relayed event by event with redaction (relay.ts), then settled and
 * recorded. The head leaves at once; the final event waits for the row to be on disk.
 */
export async function deliverStream(d: DeliverDeps, call: Call, up: UpstreamResponse, res: ServerResponse, clientSignal: AbortSignal): Promise<void> {
  const decoded = decodeStream(up.body, up.headers);
  if (decoded.unreadable !== null) {
    discard(up.body);
    return refuseUnreadable(d, call, up, res, decoded.unreadable);
  }
  const pending = d.meter.openPending(call, up.status);
  const scrub = scrubberOf(call.target.provider);
  res.writeHead(up.status, { ...passHeaders(up, scrub), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  // The head leaves with the first events when they are already here (one write, not two);
  // an upstream slow to its first token still lets the agent see the head at once.
  setImmediate(flushHead, res);
  const tools = d.tools?.watchesAnswers ? call.wire.toolStream(call.endpoint) : null;
  const relay = new StreamRelay(d.guard, call, scrub, tools && d.tools ? new HeldCalls(d.tools, call, tools, clientSignal) : null);
  await pump(relay, decoded.body, res, clientSignal);
  answerRead(call);
  if (relay.holding) {
    // A tool call waits for a person: the stream is read to its end, and the call holds only what it owes meanwhile.
    if (relay.waiting) d.meter.hold(call, relay.owed(up.status).reading!);
    await relay.decided();
    // An agent that hung up meanwhile (its approval withdrawn) is charged as one that hung up mid-stream.
    if (clientSignal.aborted) relay.stop('aborted', null);
    relay.tail += relay.released();
  }
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

/** An answer in a content coding we cannot undo: neither passed on nor known, so refused and charged the call's worst case. */
async function refuseUnreadable(d: DeliverDeps, call: Call, up: UpstreamResponse, res: ServerResponse, coding: string): Promise<never> {
  await d.meter.settle(call, {
    status: res.destroyed ? 'aborted' : 'error',
    httpStatus: up.status,
    reading: { usage: {}, complete: false },
    redactions: 0,
    firstByteMs: null,
    error: `answer in a content coding iron-cage cannot read: ${coding}`,
  });
  throw new GatewayError('upstream', `The upstream provider ${call.target.provider.name} answered in a content coding iron-cage cannot read (${coding}), so it was not passed on.`);
}

/** A redacted answer of a shape no wire knows (valid JSON, redacted string by string) with every `logprobs` member emptied. */
function withheldEverywhere(json: string): string {
  try {
    const j = JSON.parse(json);
    return withholdLogprobs(j, true) ? JSON.stringify(j) : json;
  } catch {
    return json;
  }
}
