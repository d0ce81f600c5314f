import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { PromptParts } from '../core/prompt.js';
import type { LlmRequestInput, ToolCallInput } from '../state/index.js';

// What the request paths hand to observability: plain records, filled in as a call moves and
// read once it is over. The gateway and the tool proxy know nothing of Prometheus or
// OpenTelemetry; metrics and traces (this folder) know nothing of how a call is served.

/** One upstream request of an LLM call (a retry or a fallback is another). */
export interface ObservedAttempt {
  provider: string;
  model: string;
  /** Epoch ms when it was sent, and how long until its answer's headers (or its failure). */
  startMs: number;
  durationMs: number;
  /** The upstream's HTTP status, or null when it failed without one (timeout, open circuit, broken connection). */
  status: number | null;
  /** What went wrong, in a few words (never a prompt); null when it answered. */
  error: string | null;
}

/** What the answer said about itself: read from the provider's answer, never the agent's request. */
export interface ObservedAnswer {
  id?: string;
  model?: string;
  finishReasons?: string[];
}

/** A piece of an answer's output text (a choice's text, a tool call's arguments: `json`), in no provider's format. */
export interface ObservedOutput {
  /** The output it belongs to (a choice, a content block). */
  index: number;
  text: string;
  kind?: 'text' | 'json';
}

/**
 * The call's request and answer read through its wire, in no provider's format: for opt-in
 * content capture only, never called otherwise (observability cannot read a provider's fields).
 */
export interface ObservedReader {
  prompt(): PromptParts;
  output(answer: object): ObservedOutput[];
}

/**
 * One LLM call through the gateway, from its authentication to its end. Created by the handler
 * once the caller is an agent on an LLM endpoint; each stage fills in what it learns.
 */
export interface ObservedCall {
  agentId: string;
  /** The agent's name (its budget's and dashboard's label). */
  agentName: string;
  endpoint: 'chat' | 'completions' | 'embeddings' | 'messages' | 'responses';
  /** Epoch ms of arrival; `t0` is the same instant on performance.now()'s clock. */
  startMs: number;
  t0: number;
  /** The agent's request headers: `traceparent`/`tracestate` are read from them, nothing else. */
  headers: IncomingHttpHeaders;
  /** Known once the body is parsed: the model the agent asked for, whether it streams, the body. */
  requestModel: string | null;
  stream: boolean;
  request: Record<string, unknown> | null;
  /** The model and provider that answered (or were last tried): differs from the request after a fallback. */
  provider: string | null;
  model: string | null;
  /** The provider's base URL, when it is a real one (server.address / server.port). */
  server: { address: string; port: number } | null;
  attempts: ObservedAttempt[];
  /** Fallbacks taken, in order (`from` → `to`). */
  fallbacks: Array<{ from: string; to: string; reason: string }>;
  /**
   * Time spent waiting for upstreams (every attempt, and reading the answer's body; for a stream,
   * its whole relay): the rest of the call's duration is the cage's own.
   */
  upstreamMs: number;
  /** performance.now() when the answer's headers came: its body is read from here. */
  answerAt: number | null;
  /** Time spent waiting for in-flight calls to free budget (not the cage's overhead either). */
  budgetWaitMs: number;
  /** Time spent in backoff between retries (Retry-After included): waiting on the upstream, not the cage's work. */
  retryWaitMs: number;
  /** Since t0, for a streamed answer: when its first chunk reached the agent. */
  firstChunkMs: number | null;
  /** The call's row as written (status, tokens, cost), once settled. */
  row: LlmRequestInput | null;
  cacheReadTokens: number | null;
  cacheWriteTokens: number | null;
  answer: ObservedAnswer | null;
  /**
   * The answer, for opt-in content capture only: a whole answer's JSON as the agent was sent it
   * (redacted), a Responses stream's final response, or (another stream, a body that is no JSON)
   * its output text as one string.
   */
  answerBody: unknown;
  /** Reads the prompt and an answer's output (see ObservedReader); set once the body is parsed. */
  read: ObservedReader | null;
  /** A prompt injection the request carried (the first; src/injection) and what was done with it. */
  injection: ObservedInjection | null;
}

/** A prompt injection a call carried, as its span says it (never the text: its signals and score). */
export interface ObservedInjection {
  source: string;
  action: 'detected' | 'warned' | 'blocked';
  signals: string[];
  score: number;
}

/** A new call record: everything unknown yet. */
export function observedCall(init: Pick<ObservedCall, 'agentId' | 'agentName' | 'endpoint' | 'headers' | 't0'>): ObservedCall {
  return {
    startMs: performance.timeOrigin + init.t0,
    requestModel: null,
    stream: false,
    request: null,
    provider: null,
    model: null,
    server: null,
    attempts: [],
    fallbacks: [],
    upstreamMs: 0,
    answerAt: null,
    budgetWaitMs: 0,
    retryWaitMs: 0,
    firstChunkMs: null,
    row: null,
    cacheReadTokens: null,
    cacheWriteTokens: null,
    answer: null,
    answerBody: undefined,
    read: null,
    injection: null,
    ...init,
  };
}

/** One tool-proxy call: its row, the agent's headers (traceparent), and when it began. */
export interface ObservedToolCall {
  row: ToolCallInput;
  headers: IncomingHttpHeaders;
  startMs: number;
  /** The IronCageError code it ended with (`circuit_open`, `upstream_timeout`, `unknown_service`…), null when answered. */
  errorCode: string | null;
  /** Its `tool_calls` row id, once written (null: it could not be). */
  id?: number | null;
  /** What the agent sent besides the path (the watch fingerprints it; never kept): the query string and the body. */
  sent?: { query: string; body: Buffer | null };
  /** An MCP tools/call through the cage (src/mcp): its server, tool and the agent's MCP session. */
  mcp?: { server: string; tool: string; sessionId: string | null };
  /** A prompt injection its answer carried (src/injection) and what was done with it. */
  injection?: ObservedInjection | null;
}

/**
 * Where the request paths report. Every method is synchronous and cheap: it never waits on an
 * exporter, a scrape or the network.
 */
export interface Observer {
  /** An LLM call is over (answered, refused or failed: `error`). Its row may come later (`settled`). */
  llmCall(call: ObservedCall, error: unknown): void;
  /** A call's row was committed (the ledger's truth: tokens and money are counted from here, exactly once). */
  settled(call: ObservedCall | undefined, row: LlmRequestInput, id?: number): void;
  toolCall(call: ObservedToolCall): void;
}

/** One observer that tells each of `list` in turn; one that throws does not keep the call from the rest. */
export function observers(list: Observer[], onError: (err: unknown) => void): Observer {
  const each = (f: (o: Observer) => void): void => {
    for (const o of list) {
      try {
        f(o);
      } catch (err) {
        onError(err);
      }
    }
  };
  return {
    llmCall: (call, error) => each((o) => o.llmCall(call, error)),
    settled: (call, row, id) => each((o) => o.settled(call, row, id)),
    toolCall: (call) => each((o) => o.toolCall(call)),
  };
}

/** An observer that records nothing (tests, and the demo's stage-hand calls). */
export const NO_OBSERVER: Observer = { llmCall: () => {}, settled: () => {}, toolCall: () => {} };
