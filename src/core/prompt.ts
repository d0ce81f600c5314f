// A request's prompt in no provider's format: what each wire adapter reads a request body into
// (gateway/wire), and what the budget counts, the prompt guard redacts and the simulated
// provider answers. One reader per wire, so a new wire or a new part type is taught once.

/**
 * Text the agent sends (its own, or the model's from earlier turns). `set` writes a new text back
 * into the request body, where the wire allows rewriting it (absent: it must reach the provider
 * as sent).
 */
export interface PromptText {
  type: 'text';
  text: string;
  set?: (text: string) => void;
}

/**
 * A call the model made in an earlier turn. `input` is as the wire carries it: JSON text (OpenAI)
 * or the parsed object (Anthropic); `set` takes JSON text and writes it back in that form.
 */
export interface PromptCall {
  type: 'call';
  id: string;
  name: string;
  input: unknown;
  set?: (json: string) => void;
}

export type PromptPart =
  | PromptText
  | PromptCall
  /** Reasoning the model showed earlier, signed by the provider: shown to the model, never rewritten. */
  | { type: 'thinking'; text: string }
  /** `low`: the request asked for low detail, which has a fixed small cost. */
  | { type: 'image'; low: boolean }
  /** The answer to a call, inside a message (Anthropic's tool_result block). */
  | { type: 'result'; callId: string; parts: PromptPart[] }
  /** Input already tokenized (OpenAI's token-id prompts): `count` tokens. */
  | { type: 'tokens'; count: number }
  /**
   * Content of no kind above (audio, files, documents, types not known yet): the model is shown
   * its JSON, base64 included. `parts` are the texts inside it, still the agent's to redact.
   */
  | { type: 'other'; value: unknown; parts: PromptPart[] };

/** One message of the conversation (or item of a Responses input). */
export interface PromptMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  /** The role as the wire spells it, which the model is shown; absent where the item has none. */
  label?: string;
  /** A participant's name (OpenAI's `name`), shown with the role. */
  name?: string;
  /** On a tool message: the call it answers. */
  callId?: string;
  parts: PromptPart[];
}

/** A tool the request offers the model, with its parameters' JSON schema if it has one. */
export interface PromptTool {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
  /**
   * The model may answer with a call to it in the wire's tool-call form, which the agent runs
   * (false for a provider's own tools and chat's deprecated `functions`).
   */
  callable: boolean;
}

export interface PromptParts {
  /**
   * What comes before the conversation outside its messages: Anthropic's `system`, shown as a
   * message of its own (`framed`), or the Responses API's `instructions`.
   */
  instructions: { parts: PromptPart[]; framed: boolean } | null;
  /** The conversation in order: chat or Anthropic messages, Responses input items. */
  messages: PromptMessage[];
  /** Input that is no message: a completions prompt, embeddings input, a Responses input string. */
  input: PromptPart[];
  tools: PromptTool[];
  /** JSON the model is shown besides: response schemas, tools of no function shape. */
  shown: unknown[];
}

/**
 * What a request asks of the output, as the budget needs it. `limit`: the most output tokens per
 * choice (null: the request sets none); `choices`: how many answers may each reach it (OpenAI's
 * `n`, `best_of`); `thinking`: tokens of reasoning the request grants before the answer
 * (Anthropic's `thinking.budget_tokens`), inside the limit.
 */
export interface OutputAsk {
  limit: number | null;
  choices: number;
  thinking: number;
}

/** A prompt with nothing in it, for wires' readers to fill. */
export function emptyPrompt(): PromptParts {
  return { instructions: null, messages: [], input: [], tools: [], shown: [] };
}
