import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FIXTURES, ROOT, startTestRuntime, tempDir, until } from '../helpers/runtime.js';
import { CLI_TEST_TIMEOUT_MS, cliInProcess, type CliResult } from '../helpers/cli.js';
import { sqliteOf } from '../helpers/db.js';

// `iron-cage audit pii` on findings a real run sealed: the agent printed an SSN, iron-cage
// redacted it and kept it sealed in the audit trail. The first list and the first reveal through
// the built CLI as processes of their own; the rest in-process (cliInProcess: the same program,
// no cold start of Node for each).
const CLI = join(ROOT, 'dist/cli.js');

let dir: { dir: string; cleanup: () => void };
let db: string;

beforeAll(async () => {
  dir = tempDir();
  db = join(dir.dir, 'iron_state.db');
  const t = await startTestRuntime({ dir: dir.dir, agent: { script: join(FIXTURES, 'agents/pii_agent.py') }, env: { PII_AGENT_PRINT_ONLY: '1' } });
  await t.rt.agentDone;
  await until(() => (sqliteOf(t.rt.state).prepare('SELECT count(*) AS n FROM pii_audit').get() as { n: number }).n > 0);
  await t.rt.shutdown('test finished');
});
afterAll(() => dir?.cleanup());

/** `iron-cage audit pii … --db` as a process of its own. */
function auditProcess(args: string[], file = db): CliResult {
  const r = spawnSync(process.execPath, [CLI, 'audit', 'pii', ...args, '--db', file], { cwd: dir.dir, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `iron-cage audit pii … --db` in-process. */
const audit = (args: string[], file = db): Promise<CliResult> => cliInProcess(['audit', 'pii', ...args, '--db', file], { cwd: dir.dir });

const revealed = (file = db) => {
  const d = new Database(file, { readonly: true });
  try {
    return (d.prepare("SELECT agent_id AS agentId, severity, message, data FROM events WHERE type = 'pii.revealed' ORDER BY seq").all() as any[]).map((e) => ({ ...e, data: JSON.parse(e.data) }));
  } finally {
    d.close();
  }
};

describe('iron-cage audit pii', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it('lists findings without their values', async () => {
    const r = auditProcess([]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^#1 {2}\S+ {2}\S+ {2}agent\.output {2}SSN {2}redacted$/m);
    expect(r.stdout).not.toContain('123-45-6789');
    const json = JSON.parse((await audit(['--json', '--type', 'SSN'])).stdout);
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({ id: 1, location: 'agent.output', type: 'SSN', action: 'redacted' });
    expect(JSON.stringify(json)).not.toMatch(/123-45-6789|valueSealed|valueHmac/);
  });

  it('reveals a value with the audit key, and records who, which and why before printing it', async () => {
    const r = auditProcess(['--reveal', '1', '--reason', 'ticket 481 from bob@example.org']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('123-45-6789\n');
    const by = `cli:${userInfo().username}`;
    expect(revealed()).toEqual([
      {
        agentId: expect.any(String),
        severity: 'warn',
        message: `PII finding #1 (SSN in agent.output) revealed by ${by}: ticket 481 from [EMAIL_REDACTED]`,
        data: { auditId: 1, type: 'SSN', location: 'agent.output', by, reason: 'ticket 481 from [EMAIL_REDACTED]' },
      },
    ]);
    const json = JSON.parse((await audit(['--reveal', '1', '--json'])).stdout);
    expect(json).toMatchObject({ id: 1, type: 'SSN', value: '123-45-6789' });
    expect(json.valueSealed).toBeUndefined();
    expect(revealed()).toHaveLength(2);
    expect(JSON.stringify(revealed())).not.toContain('123-45-6789');
  });

  it('refuses with exit 2 and one precise line, and records nothing, when it cannot reveal', async () => {
    const before = revealed().length;
    const cases: Array<[string[], RegExp, string?]> = [
      [['--reveal', '999'], /^iron-cage: no PII finding #999 in .*iron_state\.db/],
      [['--reveal', '0'], /^iron-cage: --reveal: must be a whole number of at least 1, not 0/],
      [['--reveal', 'abc'], /^iron-cage: --reveal: must be a whole number of at least 1, not NaN/],
      [['--reason', 'why'], /^iron-cage: --reason: only with --reveal/],
      [['--reveal', '1'], /^iron-cage: no database at .*nowhere\.db/, join(dir.dir, 'nowhere.db')],
    ];
    const results = await Promise.all(cases.map(async ([args, message, file]) => ({ message, r: await audit(args, file) })));
    for (const { message, r } of results) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
    expect(revealed()).toHaveLength(before);

    // A copy of the database without its key, then with a key that did not seal it.
    const copy = join(dir.dir, 'copy.db');
    copyFileSync(db, copy);
    const missing = await audit(['--reveal', '1'], copy);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^iron-cage: no audit key at .*copy\.db\.audit\.key/);
    writeFileSync(`${copy}.audit.key`, `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    const wrong = await audit(['--reveal', '1'], copy);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^iron-cage: PII finding #1 does not open with the audit key at .*copy\.db\.audit\.key/);
    expect(wrong.stdout + wrong.stderr).not.toContain('123-45-6789');
    writeFileSync(`${copy}.audit.key`, 'not a key\n');
    expect((await audit(['--reveal', '1'], copy)).stderr).toMatch(/^iron-cage: the audit key .*copy\.db\.audit\.key cannot be read: .* is not a key file/);
    expect(revealed(copy)).toHaveLength(before);
  });
});
