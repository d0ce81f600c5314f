import type { Readable } from 'node:stream';
import type { Endpoint } from '../wire/types.js';

export type ProviderName = 'openai' | 'anthropic' | 'simulated';

export interface UpstreamCall {
  /** A metered call, or an unmetered one: the model list, Anthropic's token count. */
  endpoint: Endpoint | 'models' | 'count_tokens';
  method: 'GET' | 'POST';
  /** JSON text to send, exactly (the gateway may have added stream_options). */
  body: string | null;
  json: Record<string, unknown> | null;
  stream: boolean;
  /** Agent headers worth passing on (anthropic-version, anthropic-beta, openai-beta). */
  headers: Record<string, string>;
  /** Ends the call early (the in-process provider's own deadline); a real one has undici's timeouts instead. */
  signal?: AbortSignal;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/** An LLM upstream. Errors it throws carry Node/undici codes (timeouts, connection errors). */
export interface Provider {
  readonly name: ProviderName;
  /** True for a real upstream with a key: what `announce` reports. */
  readonly real: boolean;
  /** Where a real one is (traces' `server.address` / `server.port`); absent in process. */
  readonly server?: { address: string; port: number };
  call(c: UpstreamCall): Promise<UpstreamResponse>;
  /** What it sends on the agent's behalf (the API key, as of now): never to come back to the agent in an answer. */
  credentials(): string[];
  close(): Promise<void>;
}
