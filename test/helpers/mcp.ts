import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ToolCallInput } from '../../src/state/index.js';
import { ROOT, until } from './runtime.js';

// The MCP tests' two real ends: the fixture server built with the official SDK's
// McpServer (test/fixtures/mcp-server.mjs), and an agent's client, the SDK's own, on the cage.

/** The fixture MCP server: `stdio` is run by the cage itself (`command` and `args` in its config). */
export const MCP_FIXTURE = join(ROOT, 'test/fixtures/mcp-server.mjs');

/**
 * The fixture server over streamable HTTP (`http`; `http-json`: its answers JSON, not SSE) or the older HTTP+SSE transport (`sse`), on a
 * loopback port, once it says its URL, with `env` over this process's (FIXTURE_POISONED_TOOL=1: it also lists a
 * tool whose description is poisoned). Kill `child` when done.
 *
 * @example
 *   const { url, child } = await startMcpFixture('http'); // url: http://127.0.0.1:<port>/mcp
 */
export async function startMcpFixture(transport: 'http' | 'http-json' | 'sse', env: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [MCP_FIXTURE, transport], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  let said = '';
  child.stdout!.on('data', (c) => (said += c));
  const url = await until(() => /^(http:\S+)$/m.exec(said)?.[1], 20_000);
  return { url, child };
}

/** An agent's MCP client (the SDK's), connected to the cage's endpoint for `server` with the agent's own token. */
export async function connectMcp(cage: string, server: string, token: string, client = new Client({ name: 'test-agent', version: '1.0.0' })): Promise<Client> {
  await client.connect(new StreamableHTTPClientTransport(new URL(`${cage}/mcp/${server}`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

/**
 * A tool_calls row as src/mcp/record.ts writes one for a tools/call that went well, with `o` over
 * it (another outcome, agent, time or method).
 *
 * @example
 *   mcpCallRow({ service: 'web', path: 'delete_repo', status: 403, tier: null, reason: 'not_allowed' })
 */
export function mcpCallRow(o: Partial<ToolCallInput> & Pick<ToolCallInput, 'service' | 'path'>): ToolCallInput {
  return {
    ts: '2026-11-23T10:00:00.000Z',
    agentId: 'ag-1',
    method: 'tools/call',
    status: 200,
    tier: 'live',
    reason: 'ok',
    detail: null,
    upstreamStatus: null,
    latencyMs: 3,
    upstreamMs: 2,
    bytes: 10,
    redactions: 0,
    fault: false,
    ...o,
  };
}
