import type { ErrorKind } from '../../core/errors.js';
import type { OutputAsk, PromptParts } from '../../core/prompt.js';
import type { SlotKind } from '../../pii/index.js';
import type { SseEvent } from '../sse.js';

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
  /** An extra event carrying held-back text for `index`, at the very end of a stream. */
  flushEvent(index: number, text: string, template: any, seq: number, slot: SlotRef): string;
  /**
   * Whether an event of this name can be forwarded unread: no usage, no text, no end in it, and
   * (unless the relay has `rewritten` some text) no repeat of the text. Saves parsing JSON the
   * relay would not look at; absent, every event is read.
   */
  unread?(event: string, rewritten: boolean): boolean;
  /** The event that ends a stream refused mid-way (a PII block); default: `error(...)` as data. */
  streamError?(status: number, kind: ErrorKind, message: string, seq: number): string;
}
