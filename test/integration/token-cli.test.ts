import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';
import { CLI_TEST_TIMEOUT_MS, cliInProcess, type CliResult } from '../helpers/cli.js';

// `iron-cage token …` on the database file a running iron-cage uses: the first create and the
// revoke while iron-cage runs through the built CLI as processes of their own; the rest
// in-process (cliInProcess: the same program, no cold start of Node for each).
const CLI = join(ROOT, 'dist/cli.js');

let dir: { dir: string; cleanup: () => void };
let db: string;
let t: TestRuntime | undefined;

beforeAll(() => {
  dir = tempDir();
  db = join(dir.dir, 'iron_state.db');
});
afterAll(async () => {
  await t?.stop();
  dir?.cleanup();
});

/** `iron-cage token … --db` as a process of its own. */
function tokenProcess(args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, 'token', ...args, '--db', db], { cwd: dir.dir, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `iron-cage token … --db` in-process. */
const token = (args: string[]): Promise<CliResult> => cliInProcess(['token', ...args, '--db', db], { cwd: dir.dir });

const whoami = (key: string) => fetch(`${t!.rt.url}/api/whoami`, { headers: { authorization: `Bearer ${key}` } });

describe('iron-cage token', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it('creates an agent key that a running iron-cage accepts, lists it, and revokes it', async () => {
    expect(existsSync(CLI)).toBe(true);
    const created = tokenProcess(['create', '--role', 'agent', '--name', 'notebook', '--budget', '5']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const head = /^Created agent token 'notebook' \((\S+)\) for agent (\S+) with a \$5\.00 budget\.$/m.exec(created.stdout);
    expect(head, created.stdout).not.toBeNull();
    const [, id, agentId] = head!;
    const key = /^ {2}(ic_\S+)$/m.exec(created.stdout)?.[1];
    expect(key, created.stdout).toMatch(/^ic_/);
    expect(created.stdout).toContain(`OPENAI_API_KEY=${key}`);
    expect(created.stdout).toContain(`ANTHROPIC_API_KEY=${key}`);

    const listed = await token(['list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout.trim().split('\n')).toEqual([`${id}  agent   api      notebook  agent ${agentId}`]);
    expect(listed.stdout).not.toContain(key); // only the hash is stored
    const json = JSON.parse((await token(['list', '--json'])).stdout);
    expect(json).toEqual([expect.objectContaining({ id, role: 'agent', name: 'notebook', agentId, revokedAt: null })]);

    const dup = await token(['create', '--role', 'agent', '--name', 'notebook']);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/a token named 'notebook' already exists/);

    t = await startTestRuntime({ dir: dir.dir, config: { db } });
    const me = await whoami(key!);
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ role: 'agent', name: 'notebook', agentId });
    const status = await (await t.api(`/api/agents/${agentId}/status`)).json();
    expect(status.budget).toMatchObject({ limitUsd: 5, spentUsd: 0 });
    // Metered like a supervised agent.
    const llm = await fetch(`${t.rt.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Repeat exactly: hi' }] }),
    });
    expect(llm.status).toBe(200);
    expect((await (await t.api(`/api/agents/${agentId}/costs`)).json()).requests).toBe(1);

    // Revoked from another process while iron-cage runs: refused once its short cache lapses.
    const revoked = tokenProcess(['revoke', 'notebook']);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout.trim()).toBe(`Revoked notebook (${id}).`);
    const refused = await until(async () => {
      const r = await whoami(key!);
      return r.status === 401 ? r : null;
    }, 15_000);
    expect((await refused.json()).error.message).toMatch(/revoked/);
    expect((await token(['list'])).stdout).toMatch(new RegExp(`^${id} {2}agent {3}api {6}notebook {2}agent ${agentId} {2}revoked \\d{4}-`, 'm'));
    const again = await token(['revoke', 'notebook']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/no active token 'notebook'/);
  }, 60_000);

  it('refuses what it cannot create', async () => {
    const noName = await token(['create', '--role', 'agent']);
    expect(noName.code).toBe(2);
    expect(noName.stderr).toMatch(/--name: required/);
    const badBudget = await token(['create', '--role', 'agent', '--name', 'x', '--budget', 'lots']);
    expect(badBudget.code).toBe(2);
    expect(badBudget.stderr).toMatch(/--budget: "lots" is not an amount in dollars/);
    // The same rules as the API's budgetUsd (each rule is unit-tested in boundary-rules.test.ts).
    const tooMuch = await token(['create', '--role', 'agent', '--name', 'x', '--budget', '2000000']);
    expect(tooMuch.code).toBe(2);
    expect(tooMuch.stderr).toMatch(/--budget: must be at most \$1,000,000\.00/);
    expect((await token(['list', '--json'])).stdout).not.toContain('"name":"x"');
  });
});
