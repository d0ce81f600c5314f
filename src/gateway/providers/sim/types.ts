/**
 * The simulated provider's wire-neutral core: each wire (chat, completions, messages, responses)
 * turns its request into a `SimRequest`, `generate()` decides the answer, and the wire renders it
 * back in its own shape, whole or streamed. One generator, so every wire behaves alike.
 */

/** A JSON Schema object as the providers accept it (strict-mode subset and more). */
export type JsonSchema = Record<string, unknown>;

export interface SimTool {
  name: string;
  description?: string;
  /** The tool's parameters schema; absent means "any object". */
  parameters?: JsonSchema;
}

export type SimToolChoice = 'auto' | 'none' | 'required' | { name: string };

export type SimFormat = { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; name?: string; schema: JsonSchema; strict?: boolean };

export interface SimToolCall {
  /** OpenAI's form, `call_` + 24 characters; the Anthropic wire shows it as `toolu_` + the same. */
  id: string;
  name: string;
  /** JSON text, valid against the tool's schema. */
  arguments: string;
  /** `arguments` as the fragments a stream sends, in order (set by `generate`). */
  argumentPieces?: string[];
  /** A call to a custom (freeform) tool of the Responses API: `arguments` is its free text `input`. */
  custom?: boolean;
}

/** One turn of the conversation, whatever wire it came from. */
export interface SimTurn {
  role: 'system' | 'user' | 'assistant' | 'tool';
  text: string;
  /** On an assistant turn: the tool calls it made. */
  toolCalls?: SimToolCall[];
  /** On a tool turn: the call it answers. */
  toolCallId?: string;
}

export interface SimRequest {
  model: string;
  turns: SimTurn[];
  tools: SimTool[];
  /** The custom (freeform) tools offered, by name (the Responses API's `type: custom`): only a script calls them. */
  customTools: string[];
  toolChoice: SimToolChoice;
  /** Whether several tool calls may come in one answer (OpenAI's `parallel_tool_calls`). */
  parallelToolCalls: boolean;
  format: SimFormat;
  /** How many alternative answers (OpenAI `n`); 1 elsewhere. */
  n: number;
  /** Per-token log probabilities wanted, with `top` alternatives each; null for none. */
  logprobs: { top: number } | null;
  /** The output token limit the request set, or null. */
  maxTokens: number | null;
  /** The request's whole body as JSON text: the seed that makes answers deterministic. */
  seed: string;
}

export interface SimLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

export interface SimChoice {
  /** The answer's text ('' when it only calls tools). */
  text: string;
  toolCalls: SimToolCall[];
  finish: 'stop' | 'length' | 'tool_calls';
  /** The text as the deltas a stream sends, in order; joined they equal `text`. */
  pieces: string[];
  /** Present when the request asked for logprobs: one entry per piece. */
  logprobs?: SimLogprob[];
  /** BPE-counted output tokens of this choice (text and tool calls). */
  completionTokens: number;
}

export interface SimGeneration {
  choices: SimChoice[];
  /** Sum over choices: what `usage` reports as output. */
  completionTokens: number;
}
