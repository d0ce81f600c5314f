import type { ErrorKind } from '../../core/errors.js';
import type { OutputAsk, PromptParts } from '../../core/prompt.js';
import type { SlotKind } from '../../pii/index.js';
import type { SseEvent } from '../../core/sse.js';

export type Endpoint = 'chat' | 'completions' | 'embeddings' | 'messages' | 'responses';

// A kind of refusal and its status are the error mapping's (core/errors.ts), the same on every wire.
export type { ErrorKind } from '../../core/errors.js';

/** Usage as the gateway charges it. A wire reads a provider's as `Partial<Usage>`: see usage.ts for which counts are known. */
export interface Usage {
  /** All prompt tokens, cached ones included (OpenAI's convention; Anthropic's parts are summed). */
  promptTokens: number;
  completionTokens: number;
  /** Of the prompt, read from the provider's prompt cache (cheaper) and written to it (dearer). */
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
}

/**
 * What a piece of model output is: answer text, or (`json`) the arguments of a tool call the
 * model asks for, a JSON document redacted inside its strings only so it stays valid JSON.
 */
export type { SlotKind };

/** A piece of model output text inside a response, which redaction may rewrite in place. */
export interface TextSlot {
  /** The output it belongs to (a choice, a content block, a part): ends and flushes go by it. */
  index: number;
  text: string;
  set(text: string): void;
  /** `json`: a piece of a tool call's arguments, redacted inside its strings only. Default text. */
  kind?: SlotKind;
  /**
   * Which stream of pieces this is, where an index holds several (choice 0's text, its refusal,
   * its tool call 2): one redactor per key. Default: the index.
   */
  key?: string;
}

/** What the relay passes to `attach`/`flushEvent`: which of an index's streams a held-back tail ends. */
export interface SlotRef {
  key: string | number;
  kind: SlotKind;
}

export interface StreamInspection {
  usage?: Partial<Usage>;
  slots: TextSlot[];
  /**
   * Output indices that end at this event; `attach` puts held-back text in it (null) or returns
   * an extra event to send before it. `seq` is the number that extra event takes on a wire
   * whose events are numbered (the event itself then moves up by one).
   */
  ends: Array<{ index: number; attach(text: string, seq: number, slot: SlotRef): string | null }>;
  /** The provider's final event: anything still held back must be emitted before it. */
  last: boolean;
  /**
   * Places in this event that repeat an output's whole text (the Responses API's `*.done`
   * events and `response.completed`): they must carry what the agent was actually sent.
   */
  finals?: TextSlot[];
  /**
   * The whole answer this event carries (the Responses API's `response.completed`): the object
   * itself, so once the relay has rewritten its text it is what the agent was sent.
   */
  answer?: unknown;
  /** This event's `sequence_number`, on a wire that numbers its events (the Responses API). */
  seq?: { n: number; set(n: number): void };
}

/**
 * A tool call a model's answer asks the agent to run (a function call, a custom tool's call, a
 * `tool_use` block), as the tool policies read it (`match.llm_tool`).
 */
export interface AnswerToolCall {
  /** Where it is in the answer, in the wire's own terms (a choice and a place, an output index, a block). */
  key: string;
  name: string;
  /**
   * Its arguments: `text`, as the model wrote them (a function's JSON, still to be read: the model
   * may have written something that is not JSON); or `value`, a value already (Anthropic's input,
   * a custom tool's free text as `{ input }`).
   */
  args: { text: string; form: 'json' | 'input' } | { value: unknown };
}

/** What one streamed event is to the tool calls in an answer (`ToolCallStream.see`). */
export interface ToolSight {
  /** Calls it opens, each with the name it is first said with (and whether its arguments are JSON or a custom tool's input). */
  opens?: Array<{ key: string; name: string; form: 'json' | 'input' }>;
  /** Pieces of a call's arguments, in order. */
  pieces?: Array<{ key: string; text: string }>;
  /** Calls whose arguments are whole with this event: `whole`, their whole text when the event repeats it. */
  closes?: Array<{ key: string; whole?: string }>;
  /** Every call still open ends here (the answer's end). */
  closesAll?: boolean;
}

/**
 * A streamed answer's tool calls, read and rewritten by its wire (tools.ts in the wire's folder);
 * one per stream. The gateway (gateway/held-calls.ts) holds a call's events back until it is
 * decided, and asks for the events of one withheld rewritten: a text that says why instead of the
 * call, the answer ending its turn when no call is left.
 */
export interface ToolCallStream {
  /** What the event is to the tool calls; null when it is nothing to them (most events, told without JSON.parse where the wire can). */
  see(ev: SseEvent): ToolSight | null;
  /** A call just opened that nothing holds: its pieces and end need not be read (its opening is remembered, for the rewrite). */
  ignore(key: string): void;
  /** A call is withheld: its events become `text`. Said before any of its events is rewritten. */
  withhold(key: string, text: string): void;
  /** The event as the agent gets it: itself (nothing withheld touches it), rewritten, several, or none. */
  rewrite(ev: SseEvent): SseEvent[];
}

/**
 * One provider's wire format, both ways: validation, the request's prompt and output limit, errors,
 * usage and where the output text lives. The budget, the prompt guard and the simulated provider
 * read requests and usage only through it.
 */
export interface Wire {
  readonly name: 'openai' | 'anthropic';
  error(status: number, kind: ErrorKind, message: string): { status: number; body: string };
  /** A precise message for a malformed request body, or null if it will do. */
  validate(endpoint: Endpoint, body: Record<string, unknown>): string | null;
  /**
   * A request's prompt in no provider's format: what the budget counts, the prompt guard redacts
   * (through each text's `set`, which writes into `body`) and the simulated provider answers.
   */
  prompt(endpoint: Endpoint, body: Record<string, unknown>): PromptParts;
  /** What a request asks of the output: its limit per choice, its choices, its thinking budget. */
  output(endpoint: Endpoint, body: Record<string, unknown>): OutputAsk;
  /** A copy of `body` whose output limit is `perChoice` tokens (`budget_policy.near_limit: clamp`). */
  limitOutput(endpoint: Endpoint, body: Record<string, unknown>, perChoice: number): Record<string, unknown>;
  /** A whole answer's usage: the counts the provider gave (usage.ts); the same reader as `inspect`'s. */
  usage(json: any, endpoint: Endpoint): Partial<Usage>;
  textSlots(json: any): TextSlot[];
  inspect(ev: SseEvent, json: any): StreamInspection;
  /** A streamed answer's reader and writer: one per call (stream.ts in each wire's folder). */
  stream(ctx: StreamContext): WireStream;
  /**
   * The body to send upstream for a stream, when this wire's streams report usage only if asked
   * (OpenAI's `stream_options.include_usage`): the body asking for it, or null when it does.
   */
  askUsage?(endpoint: Endpoint, body: Record<string, unknown>): Record<string, unknown> | null;
  /** An entry of an OpenAI-shaped model list as this wire's SDK expects it; absent: that shape is this wire's. */
  modelEntry?(m: { id?: unknown; created?: unknown }): unknown;
  /** The tool calls a whole answer asks the agent to run (none for an endpoint that has none). */
  toolCalls(endpoint: Endpoint, json: any): AnswerToolCall[];
  /**
   * The answer with these of its tool calls replaced by a text each (a call's key → the text), in
   * place; a choice (or message) left with no tool call ends its turn (`stop`, `end_turn`).
   */
  withhold(json: any, texts: ReadonlyMap<string, string>): void;
  /** A stream's reader and rewriter of its tool calls, or null for an endpoint that has none. */
  toolStream(endpoint: Endpoint): ToolCallStream | null;
}

/** What a wire's stream is told of the call whose answer it reads. */
export interface StreamContext {
  readonly endpoint: Endpoint;
  /** The relay asked the upstream for a usage chunk the agent did not ask for: hidden again. */
  readonly hideUsageChunk: boolean;
  /** The stored response this Responses turn continued: each event carrying the response names it. */
  readonly previousId: string | null;
  /** Under redaction a stream's log-probabilities are withheld: an event that may carry them is never passed unread. */
  readonly withholdLogprobs: boolean;
}

/**
 * One streamed answer as its wire reads and writes it. The relay (gateway/relay.ts) does what is
 * the same on every wire: a redactor per slot, the text held back, the final event held for the
 * row, the drain. The wire's stream does what is its own: which events need no reading, a fast
 * read of its commonest event, how an event is written back, the numbers of a numbered stream,
 * and the events it adds (held-back text, the error that ends a refused stream).
 */
export interface WireStream {
  /**
   * One upstream event. Its inspection (what the relay guards), or a string (the event's bytes,
   * to pass on as they are: nothing in it needs reading), or null (not JSON: one text, scanned whole).
   */
  read(ev: SseEvent, rewritten: boolean): StreamInspection | string | null;
  /** The event last read, parsed; null when it was read without JSON.parse. */
  readonly json: any;
  /** The event last read, for the agent: `changed` says whether the relay rewrote any of its text. */
  write(changed: boolean): string;
  /** A drained event (nothing goes to the agent any more): only its usage counts. Sets `json`. */
  usage(ev: SseEvent): Partial<Usage> | undefined;
  /** Held-back text an end of the event last read takes: in the event (null) or as an extra event before it. */
  attach(end: StreamInspection['ends'][number], text: string, slot: SlotRef): string | null;
  /** An extra event carrying text held back for output `index`: before the event last read, or at the stream's end. */
  flush(index: number, text: string, slot: SlotRef): string;
  /** All written so far has been sent: what is written from here may be dropped whole by a block. */
  mark(): void;
  /** The event that ends a stream refused mid-way (a PII block), in the wire's own shape. */
  error(message: string): string;
}
