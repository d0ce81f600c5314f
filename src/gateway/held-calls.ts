import type { SseEvent } from '../core/sse.js';
import type { CallArgs } from '../domain/policy/index.js';
import type { Call } from './call.js';
import type { AnswerToolCall, ToolCallStream } from './wire/types.js';

// The tool calls in a model's answer, put to the tool policies (`policies:` rules naming
// `match.llm_tool`) before the agent gets them: a coding agent runs its tools itself, so its
// `Bash` or `shell` call is seen only here, on its way back. A call a rule denies, or a person
// does not approve, never reaches the agent: a text saying why takes its place, and the answer
// ends its turn when no call is left. A whole answer waits whole; a stream goes on until a call
// a rule could decide opens, and from there is held until that call's arguments are whole and
// decided (text already streamed has gone; a call no rule names passes at once).

/** What the gateway asks of the tool policies (src/approvals' PolicyGate). */
export interface AnswerPolicy {
  /** Whether any rule reads the tool calls in answers: none, and nothing here runs. */
  readonly watchesAnswers: boolean;
  /** Whether a rule could decide a call of this name: only such a call is held back until it is decided. */
  holdsAnswerCall(agentId: string, model: string, tool: string): boolean;
  /** The decision: null (it goes to the agent), the refusal at once (deny), or a person's decision to wait for (null: approved). */
  answerCall(c: { agentId: string; model: string; tool: string; args: CallArgs }, signal?: AbortSignal): null | Error | Promise<Error | null>;
}

/**
 * What takes the place of a withheld tool call: the agent and its user read why, and the model
 * reads it in its history next turn, so it neither waits for a result nor asks again as if
 * nothing happened.
 * @example withheldText(new Error('tool call Bash in an answer of gpt-4o is refused by policy rule no-push')) // '[iron-cage] tool call Bash … is refused by policy rule no-push. It was not run.'
 */
export const withheldText = (why: Error): string => `[iron-cage] ${why.message}. It was not run.`;

/**
 * A call's arguments as the rules read them: a value, a custom tool's free text as `{ input }`,
 * or a function's JSON as the model wrote it (no arguments at all read as `{}`), else why not.
 */
export function argsOf(a: AnswerToolCall['args']): CallArgs {
  if ('value' in a) return { readable: true, value: a.value };
  if (a.form === 'input') return { readable: true, value: { input: a.text } };
  try {
    return { readable: true, value: JSON.parse(a.text.trim() === '' ? '{}' : a.text) };
  } catch (e) {
    return { readable: false, why: `the model wrote arguments that are not JSON (${(e as Error).message})` };
  }
}

/** One answer's call as the policy is asked about it. */
const asked = (p: AnswerPolicy, call: Pick<Call, 'agentId' | 'target'>, tool: string, args: CallArgs, signal?: AbortSignal) =>
  p.answerCall({ agentId: call.agentId, model: call.target.model, tool, args }, signal);

/**
 * A whole answer's tool calls put to the policy, each withheld one replaced in `json` by its text:
 * how many were withheld, at once, or once a person has decided every call an approve rule holds
 * (`call.signal`, the agent hanging up, withdraws what still waits).
 */
export function withholdWhole(p: AnswerPolicy, call: Pick<Call, 'agentId' | 'target' | 'endpoint' | 'wire' | 'signal'>, json: unknown): number | Promise<number> {
  const texts = new Map<string, string>();
  const waits: Array<Promise<void>> = [];
  for (const c of call.wire.toolCalls(call.endpoint, json)) {
    const v = asked(p, call, c.name, argsOf(c.args), call.signal);
    if (v instanceof Promise) waits.push(v.then((e) => void (e && texts.set(c.key, withheldText(e)))));
    else if (v) texts.set(c.key, withheldText(v));
  }
  const done = (): number => {
    if (texts.size > 0) call.wire.withhold(json, texts);
    return texts.size;
  };
  return waits.length === 0 ? done() : Promise.all(waits).then(done);
}

/** A call of a stream that a rule could decide: its arguments gathered until they are whole. */
interface Held {
  key: string;
  name: string;
  form: 'json' | 'input';
  args: string;
  /** Its whole arguments, where the stream repeats them. */
  whole: string | undefined;
  closed: boolean;
}

/**
 * One stream's tool calls, between the upstream's events and the relay (relay.ts): events pass
 * as they come until a call a rule could decide opens; from that event on every event is held,
 * in order, until no call is left undecided, then all go, the withheld calls' rewritten by the
 * wire (`ToolCallStream`). A call is decided once its arguments are whole: a deny at once, an
 * approve once a person decides (the upstream is read on meanwhile, and the call settled;
 * `waiting` says so, `settled` waits for it).
 */
export class HeldCalls {
  private queue: SseEvent[] = [];
  private readonly calls = new Map<string, Held>();
  private undecided = 0;
  /** Nothing more reaches the agent: every event passes, to be read for its usage. */
  private dropped = false;
  private readonly waits: Array<Promise<void>> = [];
  /** Aborted when nothing more is delivered: a call still waiting for a person is withdrawn. */
  private readonly stop = new AbortController();
  /** The agent hanging up, or `stop`: made when a call is first decided (most streams decide none). */
  private either: AbortSignal | null = null;

  constructor(
    private readonly p: AnswerPolicy,
    private readonly call: Pick<Call, 'agentId' | 'target'>,
    private readonly tools: ToolCallStream,
    private readonly clientSignal: AbortSignal,
  ) {}

  /** One upstream event in; the events the agent gets now out (none while a call is undecided). */
  push(ev: SseEvent): SseEvent[] {
    if (this.dropped) return [ev];
    const sight = this.tools.see(ev);
    if (sight !== null) {
      for (const o of sight.opens ?? [])
        if (this.p.holdsAnswerCall(this.call.agentId, this.call.target.model, o.name)) {
          this.calls.set(o.key, { ...o, args: '', whole: undefined, closed: false });
          this.undecided++;
        } else this.tools.ignore(o.key);
      for (const x of sight.pieces ?? []) {
        const c = this.calls.get(x.key);
        if (c && !c.closed) c.args += x.text;
      }
      for (const x of sight.closes ?? []) {
        const c = this.calls.get(x.key);
        if (c) this.close(c, x.whole);
      }
      if (sight.closesAll) this.closeAll();
    }
    if (this.undecided === 0 && this.queue.length === 0) return this.tools.rewrite(ev);
    this.queue.push(ev);
    return this.undecided === 0 ? this.release() : [];
  }

  /** The upstream ended: a call still open is whole as it is; what may go, goes. */
  end(): SseEvent[] {
    this.closeAll();
    return this.undecided === 0 ? this.release() : [];
  }

  /** Calls wait for a person: what follows them is held until they are decided. */
  get waiting(): boolean {
    return this.undecided > 0 && !this.dropped;
  }

  /** The events held back (for the usage they carry), left held. */
  get held(): readonly SseEvent[] {
    return this.queue;
  }

  /** Resolves once every call is decided. */
  async settled(): Promise<void> {
    await Promise.all(this.waits);
  }

  /** Every event held, as the agent gets it: once nothing is undecided. */
  release(): SseEvent[] {
    const q = this.queue;
    this.queue = [];
    return q.flatMap((ev) => this.tools.rewrite(ev));
  }

  /**
   * Nothing more reaches the agent (it hung up, a block stopped the output, the stream broke):
   * the events held, unread and unrewritten (for their usage only); a call still waiting for a
   * person is withdrawn, and from here every event passes (to be read for its usage).
   */
  drop(): SseEvent[] {
    this.dropped = true;
    this.stop.abort();
    const q = this.queue;
    this.queue = [];
    return q;
  }

  private closeAll(): void {
    for (const c of this.calls.values()) this.close(c, undefined);
  }

  private close(c: Held, whole: string | undefined): void {
    if (c.closed) return;
    c.closed = true;
    if (whole !== undefined) c.whole = whole;
    this.either ??= AbortSignal.any([this.clientSignal, this.stop.signal]);
    const v = asked(this.p, this.call, c.name, argsOf({ text: c.whole ?? c.args, form: c.form }), this.either);
    if (v instanceof Promise) this.waits.push(v.then((e) => this.decided(c, e)));
    else this.decided(c, v);
  }

  private decided(c: Held, refusal: Error | null): void {
    this.undecided--;
    if (refusal) this.tools.withhold(c.key, withheldText(refusal));
  }
}
