import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { McpServerConfig } from '../config/index.js';
import { VERSION } from '../core/index.js';
import type { Logger } from '../core/logger.js';
import { CREDENTIAL_NAME, fillRefs, refUnavailable, type SecretRefs } from '../secrets/index.js';
import type { Undici } from '../core/on-first-use.js';
import { CredentialScrubber } from '../domain/secrets/index.js';
import { HttpUpstreamTransport } from './http-upstream.js';
import type { Sdk } from './sdk.js';

// One connection to a configured MCP server, made for one agent session: its own MCP session
// upstream (streamable HTTP, the older HTTP+SSE transport, or a process the cage launches on
// stdio), with the server's credentials filled in from the vault here and never given to the agent.

export interface Upstream {
  client: Client;
  /** What the cage sent on the agent's behalf (header values, a launched server's secrets): an answer must not echo them. */
  injected: string[];
  /** Which transport carried it, for the record. */
  transport: 'streamable-http' | 'sse' | 'stdio';
  close(): Promise<void>;
}

export interface UpstreamDeps {
  sdk: Sdk;
  refs: Pick<SecretRefs, 'get'> | undefined;
  logger: Logger;
  /** A notification the server sent (a list changed, a log line, progress): passed on to the agent. */
  onNotification: (n: { method: string; params?: Record<string, unknown> }) => Promise<void>;
  /**
   * How a stdio server is launched while the agent is sandboxed (src/sandbox `confineLaunched`):
   * its command resolved at start, a folder of its own, confined; `done` once it has ended.
   * Absent: as configured, in iron-cage's working folder.
   */
  confine?: ((server: string, target: Extract<McpServerConfig['target'], { kind: 'stdio' }>) => { command: string; args: string[]; cwd: string; env: Record<string, string>; done(): void }) | null;
  /** The server's connection pool (an HTTP server's; every session with it shares it). */
  pool: () => Undici.Dispatcher;
  /** A request the server made of the client (sampling, elicitation, anything else): answered by the session. */
  onRequest: (method: string, params: Record<string, unknown> | undefined, signal: AbortSignal) => Promise<Record<string, unknown>>;
}

/**
 * Connect to server `s`: initialize it and learn its capabilities. `auto` tries the current
 * streamable HTTP transport first and falls back to HTTP+SSE, as the specification's
 * backwards-compatibility section says a client should. Throws when the server cannot be reached
 * within `s.timeoutMs`, or a secret it needs is not there.
 */
export async function connectUpstream(d: UpstreamDeps, s: McpServerConfig): Promise<Upstream> {
  const injected: string[] = [];
  const filled = (where: string, name: string, value: string): string => {
    const f = fillRefs(value, d.refs, (ref) => refUnavailable(where, ref));
    injected.push(...f.filled);
    if (CREDENTIAL_NAME.test(name) || f.filled.length > 0) injected.push(f.value);
    return f.value;
  };
  const client = (): Client => {
    // The server may ask the agent's client for sampling or elicitation only where the config relays it.
    const capabilities = { ...(s.sampling === 'relay' ? { sampling: {} } : {}), ...(s.elicitation === 'relay' ? { elicitation: {} } : {}) };
    const c = new d.sdk.Client({ name: 'iron-cage', version: VERSION }, { capabilities });
    c.fallbackNotificationHandler = d.onNotification;
    const ask = (req: { method: string; params?: Record<string, unknown> }, extra: { signal: AbortSignal }) => d.onRequest(req.method, req.params, extra.signal) as never;
    if (s.sampling === 'relay') c.setRequestHandler(d.sdk.types.CreateMessageRequestSchema, ask);
    if (s.elicitation === 'relay') c.setRequestHandler(d.sdk.types.ElicitRequestSchema, ask);
    // Anything else it asks (sampling or elicitation while refused, roots) is the session's to refuse, and say.
    c.fallbackRequestHandler = (req, extra) => ask(req as { method: string; params?: Record<string, unknown> }, extra);
    return c;
  };
  const opts = { timeout: s.timeoutMs };
  const t = s.target;
  if (t.kind === 'stdio') {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(t.env)) env[k] = filled(`mcp.servers.${s.name}.env.${k}`, k, v);
    // Its own environment only: the SDK's safe defaults (PATH, HOME…) and what the config gives it, never iron-cage's.
    // While the agent is sandboxed, confined and in a folder of its own, from code the agent cannot write.
    const launch = d.confine ? d.confine(s.name, t) : { command: t.command, args: t.args, cwd: t.cwd ?? process.cwd(), env: {}, done: () => {} };
    const transport = new d.sdk.StdioClientTransport({ command: launch.command, args: launch.args, env: { ...launch.env, ...env }, cwd: launch.cwd, stderr: 'pipe' });
    // What the server prints may hold the secrets the cage gave it: a log line is a stored copy.
    const scrub = new CredentialScrubber(injected);
    transport.stderr?.on('data', (chunk: Buffer) => d.logger.debug(`mcp ${s.name}: ${scrub.text(chunk.toString('utf8').trimEnd()).text}`));
    const c = client();
    try {
      await c.connect(transport, opts);
    } catch (e) {
      await c.close().catch(() => undefined);
      launch.done();
      throw e;
    }
    return {
      client: c,
      injected,
      transport: 'stdio',
      close: async () => {
        try {
          await c.close();
        } finally {
          launch.done();
        }
      },
    };
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(t.headers)) headers[k] = filled(`mcp.servers.${s.name}.headers.${k}`, k, v);
  const url = new URL(t.url);
  const attempt = async (kind: 'streamable-http' | 'sse'): Promise<Upstream> => {
    const transport: Transport =
      kind === 'streamable-http'
        ? new HttpUpstreamTransport({ url, headers, pool: d.pool(), headersTimeoutMs: s.timeoutMs + 5_000 })
        : new d.sdk.SSEClientTransport(url, {
            requestInit: { headers },
            eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) },
          });
    const c = client();
    try {
      await c.connect(transport, opts);
    } catch (e) {
      await c.close().catch(() => undefined);
      throw e;
    }
    return { client: c, injected, transport: kind, close: () => closeSession(c, transport) };
  };
  if (t.transport !== 'auto') return attempt(t.transport);
  try {
    return await attempt('streamable-http');
  } catch (e) {
    const said = new CredentialScrubber(injected).text(e instanceof Error ? e.message : String(e)).text;
    d.logger.debug(`mcp ${s.name}: streamable HTTP refused (${said}), trying HTTP+SSE`);
    return attempt('sse');
  }
}

/** End the upstream session: a streamable HTTP one is ended with DELETE (the server may free it), then closed. */
async function closeSession(c: Client, transport: Transport): Promise<void> {
  const t = transport as Transport & { terminateSession?: () => Promise<void> };
  await t.terminateSession?.().catch(() => undefined);
  await c.close();
}
