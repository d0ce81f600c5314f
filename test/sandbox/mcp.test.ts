import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/index.js';
import { mcpSchema } from '../../src/config/mcp.js';
import { chooseSandbox, sandboxSupport } from '../../src/sandbox/index.js';
import { agentToken, ROOT, startTestRuntime, tempDir, type TestRuntime } from '../helpers/runtime.js';

// A stdio MCP server the cage launches runs inside the sandbox when the agent does,
// under the agent's file rules: an agent cannot have the server read for it what it may not read
// itself (iron-cage's state, its keys) nor write outside the working folder. Its secrets are in its
// own environment only.

const supported = sandboxSupport();
if (process.env.IRON_CAGE_CI && !supported.ok) throw new Error(`the sandbox cannot start here: ${supported.reason}`);

const FILES = join(ROOT, 'test/fixtures/mcp-files-server.mjs');
/** The server works in `work`, beside (not around) iron-cage's state file. */
const servers = (work: string) => mcpSchema.parse({ servers: { files: { command: process.execPath, args: [FILES], cwd: work } } });

async function client(t: TestRuntime, token: string): Promise<Client> {
  const c = new Client({ name: 'agent', version: '1.0.0' });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${t.rt.url}/mcp/files`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return c;
}
const textOf = (r: any): string => r.content.map((p: any) => p.text ?? '').join('');

describe.skipIf(!supported.ok)('a stdio MCP server under the sandbox', () => {
  const runtimes: TestRuntime[] = [];
  const start = async (sandboxed: boolean): Promise<{ t: TestRuntime; work: string }> => {
    const { dir } = tempDir();
    const work = join(dir, 'work');
    // The agent works in a folder of its own: the server's code (in the clone) and folder are not the agent's to write.
    const agent = join(dir, 'agent');
    mkdirSync(work);
    mkdirSync(agent);
    writeFileSync(join(work, 'notes.txt'), 'meeting at noon');
    const sandbox = { ...DEFAULTS.sandbox, mode: 'on' as const };
    const t = await startTestRuntime({
      dir,
      cwd: agent,
      config: { mcp: servers(work), ...(sandboxed ? { sandbox } : {}) },
      ...(sandboxed ? { sandbox: chooseSandbox({ sandbox, port: 0 }) } : {}),
    });
    runtimes.push(t);
    return { t, work };
  };
  afterAll(async () => {
    for (const t of runtimes) {
      await t.stop();
      rmSync(t.dir, { recursive: true, force: true });
    }
  });

  it('reads and writes its working folder, but never iron-cage’s files, and writes nothing outside it', async () => {
    const { t, work } = await start(true);
    const c = await client(t, (await agentToken(t)).token);
    try {
      expect(textOf(await c.callTool({ name: 'read', arguments: { path: join(work, 'notes.txt') } }))).toBe('read 15 bytes: meeting at noon');
      expect(textOf(await c.callTool({ name: 'write', arguments: { path: join(work, 'out.txt'), text: 'done' } }))).toBe(`wrote ${join(work, 'out.txt')}`);
      expect(readFileSync(join(work, 'out.txt'), 'utf8')).toBe('done');
      // iron-cage's state file and its key, beside the working folder: not there for the server.
      for (const f of ['iron_state.db', 'iron_state.db.key']) {
        const r = textOf(await c.callTool({ name: 'read', arguments: { path: join(t.dir, f) } }));
        expect(r).not.toMatch(/SQLite format 3|read [1-9]/);
      }
      // Nothing written outside its folder reaches the machine.
      await c.callTool({ name: 'write', arguments: { path: join(t.dir, 'outside.txt'), text: 'x' } });
      expect(existsSync(join(t.dir, 'outside.txt'))).toBe(false);
      expect(textOf(await c.callTool({ name: 'write', arguments: { path: join(ROOT, 'written-by-mcp.txt'), text: 'x' } }))).toMatch(/^(EROFS|EACCES|ENOENT)/);
      expect(existsSync(join(ROOT, 'written-by-mcp.txt'))).toBe(false);
    } finally {
      await c.close();
    }
  }, 60_000);

  it('without the sandbox the same server reads iron-cage’s state file (what the sandbox prevents)', async () => {
    const { t } = await start(false);
    const c = await client(t, (await agentToken(t)).token);
    try {
      expect(textOf(await c.callTool({ name: 'read', arguments: { path: join(t.dir, 'iron_state.db') } }))).toMatch(/^read [1-9]\d* bytes: SQLite format 3/);
    } finally {
      await c.close();
    }
  }, 60_000);
});
