import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ROOT, tempDir } from '../helpers/runtime.js';
import { CLI_TEST_TIMEOUT_MS, cliInProcess, type CliResult } from '../helpers/cli.js';

// `iron-cage user …` on a database file: the first add and one refusal through the built CLI as
// processes of their own; the rest in-process (cliInProcess: the same program, no cold start of
// Node for each).
const CLI = join(ROOT, 'dist/cli.js');
const PASSWORD = 'correct horse battery staple';

let dir: { dir: string; cleanup: () => void };
let db: string;
beforeAll(() => {
  dir = tempDir();
  db = join(dir.dir, 'iron_state.db');
});
afterAll(() => dir?.cleanup());

/** `iron-cage user …` as a process of its own. */
function userProcess(args: string[], stdin = ''): CliResult {
  const r = spawnSync(process.execPath, [CLI, 'user', ...args, '--db', db], { cwd: dir.dir, encoding: 'utf8', input: stdin, timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `iron-cage user …` in-process. */
const user = (args: string[], stdin = ''): Promise<CliResult> => cliInProcess(['user', ...args, '--db', db], { cwd: dir.dir, input: stdin });

/** Exit 2 with exactly one line on stderr matching `re`, and nothing on stdout. */
function refused(r: CliResult, re: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr.trim()).toMatch(re);
}

describe('iron-cage user', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it('adds users with a password from stdin, lists them without hashes, removes them, and lets a name be reused', async () => {
    expect(existsSync(CLI)).toBe(true);
    const added = userProcess(['add', 'ann', '--role', 'viewer'], `${PASSWORD}\n`);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    const id = /^Added viewer user 'ann' \((user_[0-9a-f]{12})\)\.$/m.exec(added.stdout)?.[1];
    expect(id, added.stdout).toBeDefined();
    expect((await user(['add', 'root', '--role', 'admin'], PASSWORD)).code).toBe(0);

    const listed = await user(['list']);
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${id} {2}viewer {2}ann {2}added \\d{4}-`));
    expect(lines[1]).toMatch(/^user_[0-9a-f]{12} {2}admin {3}root {2}added /);
    const json = JSON.parse((await user(['list', '--json'])).stdout);
    expect(json).toEqual([{ id, name: 'ann', role: 'viewer', createdAt: expect.any(String), removedAt: null }, expect.objectContaining({ name: 'root', role: 'admin' })]);
    expect(listed.stdout + JSON.stringify(json)).not.toMatch(/argon2|password/i);

    // Stored only as an Argon2id PHC string with the house parameters; the password is nowhere in the file.
    const sqlite = new Database(db, { readonly: true });
    const hashes = sqlite.prepare('SELECT name, password_hash AS h FROM users ORDER BY name').all() as Array<{ name: string; h: string }>;
    sqlite.close();
    for (const { h } of hashes) expect(h).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    expect(hashes[0]!.h).not.toBe(hashes[1]!.h); // salted
    for (const f of [db, `${db}-wal`]) if (existsSync(f)) expect(readFileSync(f).includes(PASSWORD)).toBe(false);

    refused(await user(['add', 'ann', '--role', 'admin'], PASSWORD), /^iron-cage: a user named 'ann' already exists$/);
    const rm = await user(['rm', 'ann']);
    expect(rm.code).toBe(0);
    expect(rm.stdout.trim()).toBe(`Removed user 'ann' (${id}); their tokens are refused from now on.`);
    refused(await user(['rm', 'ann']), /^iron-cage: no user 'ann'$/);
    expect((await user(['list'])).stdout).not.toMatch(/ ann /);
    const again = await user(['add', 'ann', '--role', 'admin'], PASSWORD);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain(id!);
    expect(JSON.parse((await user(['list', '--json'])).stdout).map((u: { name: string; role: string }) => `${u.name}:${u.role}`)).toEqual(['ann:admin', 'root:admin']);
  }, 60_000);

  it.each([
    ['a short password', ['add', 'bob', '--role', 'viewer'], 'eleven char', /^iron-cage: password: at least 12 characters$/],
    ['an empty password', ['add', 'bob', '--role', 'viewer'], '', /^iron-cage: password: at least 12 characters$/],
    ['no role', ['add', 'bob'], PASSWORD, /^iron-cage: --role: required, admin or viewer$/],
    ['the agent role', ['add', 'bob', '--role', 'agent'], PASSWORD, /Invalid values|Choices/],
    ['no name', ['add', '--role', 'viewer'], PASSWORD, /^iron-cage: user add: name the user/],
    ['a name with a space', ['add', 'bob smith', '--role', 'viewer'], PASSWORD, /^iron-cage: name: 1-64 letters/],
    ['a name starting with a dash', ['add', '--', '-bob', '--role', 'viewer'], PASSWORD, /^iron-cage: /],
    ['rm without a name', ['rm'], '', /^iron-cage: user rm: name the user/],
    ['an unknown action', ['promote', 'bob'], '', /Invalid values|Choices/],
  ])('refuses %s with exit 2 and one line', async (what, args, stdin, re) => {
    // One of them as a process of its own: the password from its stdin, the refusal its exit code.
    const r = what === 'a short password' ? userProcess(args as string[], stdin as string) : await user(args as string[], stdin as string);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toMatch(re as RegExp);
    if (!/Invalid values|Choices/.test(String(re))) expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect((await user(['list', '--json'])).stdout).not.toContain('"bob');
  });
});
