import { type Undici, undici } from '../../core/on-first-use.js';
import type { Provider, ProviderName, UpstreamCall, UpstreamResponse } from './types.js';

const PATHS: Record<UpstreamCall['endpoint'], string> = {
  chat: '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
  models: '/models',
  messages: '/v1/messages',
  responses: '/responses',
  count_tokens: '/v1/messages/count_tokens',
};

/**
 * A real upstream over a keep-alive undici pool (one per origin). The real key is attached
 * here; the agent only ever holds its own iron-cage token.
 */
export class HttpProvider implements Provider {
  readonly real = true;
  /** Made at the first call (undici loads then: src/core/undici.ts). */
  private poolMade: Undici.Pool | null = null;
  private readonly origin: string;
  private readonly basePath: string;
  readonly server: { address: string; port: number };

  constructor(
    readonly name: ProviderName,
    baseUrl: string,
    /** The key, or a getter for one kept in the vault (read per call: a rotation applies to the next call). */
    private readonly apiKey: string | (() => string | null),
    private readonly timeoutMs: number,
  ) {
    const u = new URL(baseUrl);
    this.basePath = u.pathname.replace(/\/+$/, '');
    this.server = { address: u.hostname, port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80 };
    this.origin = u.origin;
  }

  private get pool(): Undici.Pool {
    this.poolMade ??= new (undici().Pool)(this.origin, { connections: 256, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000 });
    return this.poolMade;
  }

  async call(c: UpstreamCall): Promise<UpstreamResponse> {
    const headers: Record<string, string> = {
      ...c.headers,
      accept: c.stream ? 'text/event-stream' : 'application/json',
      // We parse what comes back (usage, redaction): no compression on the loopback-to-provider leg.
      'accept-encoding': 'identity',
    };
    if (c.body !== null) headers['content-type'] = 'application/json';
    const key = typeof this.apiKey === 'function' ? this.apiKey() : this.apiKey;
    if (key === null) throw new Error(`the ${this.name} key is a vault secret that is not available (vault locked, or no such secret in this environment)`);
    if (this.name === 'anthropic') {
      headers['x-api-key'] = key;
      headers['anthropic-version'] ??= '2023-06-01';
    } else {
      headers.authorization = `Bearer ${key}`;
    }
    const r = await this.pool.request({
      path: this.basePath + PATHS[c.endpoint],
      method: c.method,
      headers,
      body: c.body ?? undefined,
      signal: c.signal,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
    return { status: r.statusCode, headers: r.headers, body: r.body };
  }

  credentials(): string[] {
    const key = typeof this.apiKey === 'function' ? this.apiKey() : this.apiKey;
    return key === null ? [] : [key];
  }

  close(): Promise<void> {
    return this.poolMade?.close() ?? Promise.resolve();
  }
}
