import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli as runCli, CLI_TEST_TIMEOUT_MS, cliInProcess, type CliResult } from '../helpers/cli.js';
import { FakeService } from '../helpers/http.js';
import { ROOT, startTestRuntime, tempDir } from '../helpers/runtime.js';

// `iron-cage secrets …` on a database file: values in on stdin only, out only from `get`; one
// line and exit 2 on bad input; rekey in one transaction. A `set`, a `get` and a refusal of a
// value too big run through the built CLI as processes of their own (stdin and stdout are
// pipes); the rest in-process (cliInProcess: the same program, no cold start of Node for each).
const CLI = join(ROOT, 'dist/cli.js');
const KEY = 'cli master key 3e4f';
const VALUE = 'cli-secret-value-0f1e2d3c4b5a';
const { dir, cleanup } = tempDir();
const db = join(dir, 'iron_state.db');
afterAll(() => cleanup());

const masterKey = (key: string | null | undefined) => ({ IRON_CAGE_MASTER_KEY: key === undefined ? KEY : (key ?? '') });

/** `iron-cage secrets … --db` as a process of its own. */
function secretsProcess(args: string[], o: { stdin?: string; key?: string | null } = {}): CliResult {
  const env = { ...process.env, ...masterKey(o.key) };
  const r = spawnSync(process.execPath, [CLI, 'secrets', ...args, '--db', db], { cwd: dir, encoding: 'utf8', timeout: 20_000, input: o.stdin ?? '', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `iron-cage secrets … --db` in-process. */
const secrets = (args: string[], o: { stdin?: string | Buffer; key?: string | null } = {}): Promise<CliResult> =>
  cliInProcess(['secrets', ...args, '--db', db], { cwd: dir, input: o.stdin, env: masterKey(o.key) });

describe('iron-cage secrets', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it('sets from stdin, lists masked, gets (audited), updates, removes', async () => {
    const set = secretsProcess(['set', 'LINKEDIN_TOKEN', '--env', 'production'], { stdin: `${VALUE}\n` });
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/^Created LINKEDIN_TOKEN in production \(secret-[0-9a-f]{16}\): cli-\.\.\.b5a\n$/);
    const list = await secrets(['list']);
    expect(list.stdout).toMatch(/^LINKEDIN_TOKEN\s+production\s+cli-\.\.\.b5a\s+updated /);
    expect(list.stdout).not.toContain(VALUE);
    expect(secretsProcess(['get', 'LINKEDIN_TOKEN', '--env', 'production']).stdout).toBe(`${VALUE}\n`);
    expect((await secrets(['set', 'LINKEDIN_TOKEN', '--env', 'production'], { stdin: 'second-value-abcdefgh' })).stdout).toMatch(/^Updated LINKEDIN_TOKEN/);
    expect((await secrets(['get', 'LINKEDIN_TOKEN', '--env', 'production'])).stdout).toBe('second-value-abcdefgh\n');
    const audit = await secrets(['audit', 'LINKEDIN_TOKEN']);
    expect(
      audit.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(/\s+/)[1]),
    ).toEqual(['CREATE', 'REVEAL', 'UPDATE', 'REVEAL']);
    expect(audit.stdout).not.toContain(VALUE);
    expect((await secrets(['rm', 'LINKEDIN_TOKEN', '--env', 'production'])).stdout).toMatch(/^Deleted LINKEDIN_TOKEN from production/);
    expect((await secrets(['list'])).stdout).toBe('No secrets.\n');
  });

  it('a refused read of a vault nothing was sealed in yet does not bind it to its (mistyped) key', async () => {
    const fresh = join(dir, 'fresh.db');
    // A state file with no secret yet: as `token create` leaves one.
    expect((await cliInProcess(['token', 'create', '--name', 'ci', '--role', 'viewer', '--db', fresh], { cwd: dir })).code).toBe(0);
    const typo = { IRON_CAGE_MASTER_KEY: 'a key mistyped once' };
    const got = await cliInProcess(['secrets', 'get', 'NOPE', '--db', fresh], { cwd: dir, env: typo });
    expect({ code: got.code, stderr: got.stderr }).toEqual({ code: 2, stderr: 'iron-cage: no secret NOPE in environment development\n' });
    expect((await cliInProcess(['secrets', 'list', '--db', fresh], { cwd: dir, env: typo })).stdout).toBe('No secrets.\n');
    // Nor a refused `set` (a bad name, an empty value): the vault is bound at its first secret sealed.
    for (const [name, input] of [
      ['lower_case', 'a-value-123456'],
      ['EMPTY', ''],
    ]) {
      const refused = await cliInProcess(['secrets', 'set', name!, '--db', fresh], { cwd: dir, input, env: typo });
      expect(refused.code, name).toBe(2);
      expect(refused.stderr, name).toMatch(/^iron-cage: secrets set: (name|value): .* \(nothing was stored\)\n$/);
    }
    const set = await cliInProcess(['secrets', 'set', 'FIRST', '--db', fresh], { cwd: dir, input: 'first-value-123456', env: masterKey(undefined) });
    expect({ code: set.code, stderr: set.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('a refused `set` on a --db that is not there makes no state file', async () => {
    const missing = join(dir, 'never-made');
    const tries: Array<[string[], string, string | null, RegExp]> = [
      [['set', 'lower_case'], 'a-value-123456', KEY, /name: must match/],
      [['set', 'EMPTY'], '', KEY, /value: must not be empty/],
      [['set', 'NO_KEY'], 'a-value-123456', null, /vault is locked: IRON_CAGE_MASTER_KEY is not set .*nothing was stored/],
    ];
    for (const [args, input, key, msg] of tries) {
      const r = await cliInProcess(['secrets', ...args, '--db', join(missing, 'state.db')], { cwd: dir, input, env: masterKey(key) });
      expect({ code: r.code, stdout: r.stdout }, args.join(' ')).toEqual({ code: 2, stdout: '' });
      expect(r.stderr, args.join(' ')).toMatch(msg);
    }
    expect(readdirSync(dir)).not.toContain('never-made');
  });

  it('refuses bad input with one line and exit 2', async () => {
    const cases: Array<[string[], { stdin?: string | Buffer; key?: string | null }, RegExp]> = [
      [['set', 'lower_case'], { stdin: 'v' }, /name: must match/],
      [['set', 'EMPTY'], { stdin: '' }, /value: must not be empty/],
      [['set', 'BIG'], { stdin: 'x'.repeat(70_000) }, /at most 65536 bytes/],
      [['get', 'MISSING'], {}, /no secret MISSING in environment development/],
      [['get'], {}, /name the secret/],
      [['set', 'X_Y', '--env', 'Prod!'], { stdin: 'v' }, /--env: must be 1-64 characters/],
      [['list'], { key: null }, /vault is locked/],
      [['list'], { key: 'the wrong key' }, /wrong master key/],
      [['audit', '--operation', 'PEEK'], {}, /--operation: must be one of/],
      // A key chosen anew is chosen long: Argon2id slows a guess, it does not make a short key long.
      [['rekey'], { stdin: 'short key' }, /^iron-cage: the new master key is 9 character\(s\): choose one of at least 16 /],
      // A limit SQLite was handed as it came (1.5: a stack trace; -1 or abc: every row).
      // Bytes that are not UTF-8 were stored as U+FFFD: refused, nothing stored.
      [['set', 'BINARY'], { stdin: Buffer.from([0xff, 0xfe]) }, /^iron-cage: Value for BINARY \(development\): stdin is not valid UTF-8 \(nothing was stored\)$/m],
      [['audit', '--limit', '1.5'], {}, /^iron-cage: --limit: must be a whole number of at least 1, not 1\.5$/m],
      [['audit', '--limit', '-1'], {}, /--limit: must be a whole number of at least 1/],
      [['audit', '--limit', '5000'], {}, /--limit: at most 1000/],
    ];
    await secrets(['set', 'SEED'], { stdin: 'seed-value-123456789' });
    // 70 kB of stdin is more than a pipe holds: that one as a process of its own.
    const results = await Promise.all(
      cases.map(async ([args, o, msg]) => {
        const r = args[1] === 'BIG' ? await runCli(['secrets', ...args, '--db', db], { cwd: dir, input: o.stdin as string, env: masterKey(o.key) }) : await secrets(args, o);
        return { args, msg, r };
      }),
    );
    for (const { args, msg, r } of results) {
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
  });

  it('rekeys everything in one transaction; the old key no longer opens the vault', async () => {
    await secrets(['set', 'REKEYED', '--env', 'production'], { stdin: 'rekeyed-value-0011223344' });
    const NEW = 'the new master key 99';
    const r = await secrets(['rekey'], { stdin: NEW });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Re-encrypted \d+ secret\(s\)/);
    expect((await secrets(['get', 'REKEYED', '--env', 'production'], { key: NEW })).stdout).toBe('rekeyed-value-0011223344\n');
    expect((await secrets(['list'], { key: KEY })).stderr).toMatch(/wrong master key/);
    // A server started with the new key serves them.
    const t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: NEW } });
    try {
      const list = await (await t.api('/api/secrets')).json();
      expect(list.secrets.map((s: any) => s.name).sort()).toEqual(['REKEYED', 'SEED']);
    } finally {
      await t.stop();
    }
    for (const f of readdirSync(dir)) {
      const bytes = readFileSync(join(dir, f));
      for (const v of [VALUE, 'rekeyed-value-0011223344', KEY, NEW]) expect(bytes.includes(Buffer.from(v)), `${f}`).toBe(false);
    }
  });

  it('sends nothing to a server that cannot prove it holds the database key, nor over plain http to another machine', async () => {
    await secrets(['set', 'PROBED'], { stdin: 'probed-value-0001' });
    // Something else listening where iron-cage would be: it answers every request with 200.
    const impostor = await FakeService.start();
    impostor.reply = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'ok', proof: 'f'.repeat(64), secrets: [] }) });
    const url = impostor.url;
    const run = (args: string[], stdin: string) => secrets(args, { stdin });
    try {
      const r = await run(['rotate', 'PROBED', '--url', url], 'the-new-probed-value-0002');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--url: no iron-cage serving .* answers at/);
      // It was asked to prove itself, and got neither a token nor the value.
      expect(impostor.seen.map((x) => x.url.split('?')[0])).toEqual(['/api/health']);
      expect(impostor.seen.every((x) => x.headers.authorization === undefined && !x.body.includes('probed-value'))).toBe(true);
    } finally {
      await impostor.close();
    }
    const remote = await run(['rotate', 'PROBED', '--url', 'http://iron.example.com:8080'], 'the-new-probed-value-0003');
    expect(remote.code).toBe(2);
    expect(remote.stderr).toMatch(/--url: use https:\/\/ for an iron-cage on another machine/);
  });
});
