import * as z from 'zod';
import type { Micros } from '../core/money.js';
import { usdSchema } from '../core/validation.js';
import { SERVICE_NAME, SERVICE_RULE } from '../domain/reliability/index.js';

// `mcp.servers.<name>`: the Model Context Protocol servers an agent reaches through the cage
// (src/mcp). A server is a URL (streamable HTTP, or the older HTTP+SSE transport) or a command
// the cage launches (stdio). File keys are snake_case; the parsed values are what src/mcp uses,
// every default filled in, so a mistake is reported at load time with its key path.

export interface McpServerConfig {
  name: string;
  /** Where the server is: its URL, or the command the cage runs (stdio). */
  target:
    | { kind: 'http'; url: string; transport: 'streamable-http' | 'sse' | 'auto'; headers: Record<string, string> }
    | { kind: 'stdio'; command: string; args: string[]; env: Record<string, string>; cwd: string | null; network: boolean };
  /** A tools/call (or any request) not answered within this is refused, never waited on. */
  timeoutMs: number;
  /** What a tools/call costs, per tool where listed, else the server's. */
  costPerCallMicros: Micros;
  toolCostMicros: Record<string, Micros>;
  /** Glob patterns (`*`, `?`) of tool names: listed and callable only if allowed and not denied. */
  allow: string[] | null;
  deny: string[];
  /** The most a result may be (its JSON), refused above. */
  maxResultBytes: number;
  /** The breaker: this many failures in a row open it for `cooldownMs`. */
  breaker: { failureThreshold: number; cooldownMs: number };
  /** A server's requests of the agent's client: passed on to it (scanned both ways, said), or refused (said). */
  sampling: 'relay' | 'refuse';
  elicitation: 'relay' | 'refuse';
}

export const MCP_DEFAULTS = { timeoutMs: 60_000, maxResultBytes: 8 * 1024 * 1024, failureThreshold: 5, cooldownMs: 30_000 } as const;

const posInt = z.number().int('must be a whole number').min(1, 'must be 1 or more');
const seconds = (max: number) => z.number().gt(0, 'must be above 0').max(max, `must be at most ${max}`);
const toMs = (s: number): number => Math.round(s * 1000);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A glob of tool names: what a tool name may hold, and `*`/`?`. */
const GLOB = /^[A-Za-z0-9_.:/*?-]{1,128}$/;
const glob = z.string().regex(GLOB, 'must be a tool name or a glob of one (letters, digits, _ . : / -, and * or ?)');
const usd = usdSchema({ allowZero: true, maxUsd: 1000 });

const url = z.string().transform((raw, ctx) => {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL' });
    return z.NEVER;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `must be an http(s) URL (got ${u.protocol.slice(0, -1)}:)` });
    return z.NEVER;
  }
  // Credentials in the URL would end up in logs and error messages; headers are kept out of both.
  if (u.username || u.password) {
    ctx.addIssue({ code: 'custom', message: 'must not contain credentials; put them in headers' });
    return z.NEVER;
  }
  return u.toString();
});

const server = z
  .strictObject({
    url: url.optional(),
    transport: z.enum(['streamable-http', 'sse', 'auto']).optional(),
    headers: z
      .record(z.string(), z.string())
      .superRefine((h, ctx) => {
        for (const [name, value] of Object.entries(h)) {
          if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is not a valid header name' });
          else if (/[\r\n\0]/.test(value)) ctx.addIssue({ code: 'custom', path: [name], message: 'must not contain line breaks or NUL' });
        }
      })
      .optional(),
    command: z.string().min(1, 'must not be empty').optional(),
    args: z.array(z.string()).max(256, 'must have at most 256 arguments').optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'), z.string()).optional(),
    cwd: z.string().min(1, 'must not be empty').optional(),
    network: z.boolean().optional(),
    timeout_s: seconds(3600).optional(),
    cost_per_call_usd: usd.optional(),
    tools: z
      .strictObject({
        allow: z.array(glob).optional(),
        deny: z.array(glob).optional(),
        cost_usd: z.record(z.string().regex(GLOB, 'must be a tool name'), usd).optional(),
      })
      .optional(),
    max_result_mb: z.number().gt(0, 'must be above 0').max(256, 'must be at most 256').optional(),
    sampling: z.enum(['relay', 'refuse']).optional(),
    elicitation: z.enum(['relay', 'refuse']).optional(),
    breaker: z.strictObject({ failure_threshold: posInt.max(1000, 'must be at most 1000').optional(), cooldown_s: seconds(86_400).optional() }).optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.url === undefined) === (s.command === undefined)) ctx.addIssue({ code: 'custom', message: 'needs either url (an HTTP server) or command (a stdio server the cage launches), not both' });
    if (s.url !== undefined)
      for (const k of ['args', 'env', 'cwd', 'network'] as const) if (s[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'is for a command (stdio) server, not a url' });
    if (s.command !== undefined) for (const k of ['transport', 'headers'] as const) if (s[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'is for a url server, not a command' });
  });

export const mcpSchema = z
  .strictObject({ servers: z.record(z.string(), server).optional() })
  .superRefine((m, ctx) => {
    for (const name of Object.keys(m.servers ?? {})) if (!SERVICE_NAME.test(name)) ctx.addIssue({ code: 'custom', path: ['servers', name], message: `server names ${SERVICE_RULE}` });
  })
  .transform((m): Record<string, McpServerConfig> => {
    const out: Record<string, McpServerConfig> = {};
    for (const [name, s] of Object.entries(m.servers ?? {})) {
      out[name] = {
        name,
        target:
          s.url !== undefined
            ? { kind: 'http', url: s.url, transport: s.transport ?? 'auto', headers: s.headers ?? {} }
            : { kind: 'stdio', command: s.command!, args: s.args ?? [], env: s.env ?? {}, cwd: s.cwd ?? null, network: s.network ?? true },
        timeoutMs: s.timeout_s === undefined ? MCP_DEFAULTS.timeoutMs : toMs(s.timeout_s),
        costPerCallMicros: (s.cost_per_call_usd ?? 0) as Micros,
        toolCostMicros: (s.tools?.cost_usd ?? {}) as Record<string, Micros>,
        allow: s.tools?.allow ?? null,
        deny: s.tools?.deny ?? [],
        maxResultBytes: s.max_result_mb === undefined ? MCP_DEFAULTS.maxResultBytes : Math.round(s.max_result_mb * 1024 * 1024),
        breaker: {
          failureThreshold: s.breaker?.failure_threshold ?? MCP_DEFAULTS.failureThreshold,
          cooldownMs: s.breaker?.cooldown_s === undefined ? MCP_DEFAULTS.cooldownMs : toMs(s.breaker.cooldown_s),
        },
        sampling: s.sampling ?? 'refuse',
        elicitation: s.elicitation ?? 'refuse',
      };
    }
    return out;
  });
