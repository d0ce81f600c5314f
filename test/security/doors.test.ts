import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcpSchema } from '../../src/config/mcp.js';
import { MCP_FIXTURE } from '../helpers/mcp.js';
import { ROOT, startTestRuntime, until, type TestRuntime } from '../helpers/runtime.js';
import { raw, withTools } from '../tools/helpers.js';

// The credential rule is one guard (`auth`, src/core/stages.ts) that every door applies alike: an
// agent's token opens a door only while its agent is one this iron-cage knows and its run has not
// ended. The tool proxy took any agent token that verified, so a token of a run that outlived it
// (the egress test keeps one the same way) still reached the agent's tool services after the
// gateway, MCP and the egress proxy had closed to it. Real parts: a runtime with a supervised
// agent, a tool service on loopback, the gateway and the MCP endpoint, plain HTTP clients.

let upstream: Server;
let hits = 0;
let t: TestRuntime;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  // A server the cage would launch at a session's start: never, here (every request is refused at auth).
  const mcp = mcpSchema.parse({ servers: { local: { command: process.execPath, args: [MCP_FIXTURE, 'stdio'] } } });
  t = await startTestRuntime({ config: { ...withTools({ crm: { url } }), mcp }, agent: { script: join(ROOT, 'test/fixtures/agents/sleeper.mjs') } });
  await until(() => t.log().includes('sleeper ready'), 30_000);
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await new Promise<void>((r) => upstream?.close(() => r()));
});

/** Each door asked with `token`: its status and what it said. */
async function knock(token: string): Promise<Record<'tools' | 'llm' | 'mcp', { status: number; text: string }>> {
  const tools = await raw(t.rt.url, 'GET', '/tools/crm/contacts', { token });
  const llm = await fetch(`${t.rt.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const mcp = await fetch(`${t.rt.url}/mcp/local`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'probe', version: '1' } } }),
  });
  return { tools: { status: tools.status, text: tools.body }, llm: { status: llm.status, text: await llm.text() }, mcp: { status: mcp.status, text: await mcp.text() } };
}

describe('a run token that outlived its run', () => {
  it('opens the tool proxy while the run lives, and no door once it has ended: not the gateway, not MCP, not the tool proxy', async () => {
    const agentId = t.rt.agentId!;
    // A token of the agent's run, never revoked: only the run's end can close the doors to it.
    const run = await t.rt.tokens.issueRun({ name: agentId, agentId });
    expect((await raw(t.rt.url, 'GET', '/tools/crm/contacts', { token: run.token })).status).toBe(200);
    expect(hits).toBe(1);

    expect(t.rt.stopAgent(agentId, 'test')).toBe(true);
    await until(() => t.rt.state.agentBrief(agentId)?.status === 'stopped', 20_000);

    const after = await knock(run.token);
    expect(after.tools.status).toBe(403);
    expect(after.tools.text).toMatch(/has stopped/);
    expect(after.llm.status).toBe(403);
    expect(after.llm.text).toMatch(/has stopped/);
    expect(after.mcp.status).toBe(403);
    expect(after.mcp.text).toMatch(/has stopped/);
    // Nothing reached the service.
    expect(hits).toBe(1);
  });
});
