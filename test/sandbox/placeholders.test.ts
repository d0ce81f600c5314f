import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SANDBOX_DEFAULTS } from '../../src/config/index.js';
import { sandboxPolicy } from '../../src/sandbox/index.js';
import { isPlaceholder, releaseNames, takeNames } from '../../src/sandbox/placeholders.js';

// The names a sandboxed run holds in its agent's folder (src/sandbox/placeholders.ts), without a
// sandbox: runs of one process share them and the last one out removes them; a placeholder found
// (another cage's, one a killed run left, one bwrap made: empty, writable by nobody) is adopted; a
// user's file, or SQLite's empty WAL, never is.
// Two cages in one folder, with real sandboxes, are in planted.test.ts.

const root = mkdtempSync(join(tmpdir(), 'iron-placeholders-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const folder = () => {
  const d = join(root, `w${n++}`);
  mkdirSync(d);
  return d;
};

describe('placeholders', () => {
  it('two runs of one process hold a name together: the first to end leaves it, the last removes it', () => {
    const f = join(folder(), 'iron-cage.yaml');
    const a = takeNames([f]);
    expect(isPlaceholder(f)).toBe(true);
    const b = takeNames([f]);
    expect([a, b]).toEqual([[f], [f]]);
    releaseNames(a);
    expect(existsSync(f)).toBe(true);
    releaseNames(b);
    expect(existsSync(f)).toBe(false);
  });

  it('adopts a placeholder another run made (0400) or bwrap made (0444); leaves an empty file someone may write (a user’s, SQLite’s WAL after a checkpoint) and one written into', () => {
    const dir = folder();
    const [ours, bwraps, users, wal, written] = ['iron-cage.yaml', 'iron-cage.yml', 'iron-cage.toml', 'iron_state.db-wal', 'iron_state.db-journal'].map((x) => join(dir, x)) as [
      string,
      string,
      string,
      string,
      string,
    ];
    writeFileSync(ours, '');
    chmodSync(ours, 0o400);
    writeFileSync(bwraps, '');
    chmodSync(bwraps, 0o444);
    writeFileSync(users, '');
    chmodSync(users, 0o644);
    writeFileSync(wal, '', { mode: 0o600 });
    chmodSync(wal, 0o600);
    const held = takeNames([ours, bwraps, users, wal, written]);
    expect(held).toEqual([ours, bwraps, written]);
    expect(isPlaceholder(written)).toBe(true);
    chmodSync(written, 0o600);
    writeFileSync(written, 'kept');
    releaseNames(held);
    expect([ours, bwraps, users, wal, written].map((f) => existsSync(f))).toEqual([false, false, true, true, true]);
  });

  it('a name held by a placeholder is reserved by the next run’s policy like a free one; a file of the user’s at such a name is masked', () => {
    const work = folder();
    writeFileSync(join(work, 'agent.py'), '');
    writeFileSync(join(work, 'iron-cage.yaml'), '');
    chmodSync(join(work, 'iron-cage.yaml'), 0o400);
    writeFileSync(join(work, 'iron-cage.toml'), 'x = 1\n');
    const policy = sandboxPolicy({
      cwd: work,
      script: join(work, 'agent.py'),
      interpreter: '/usr/bin/python3',
      sdk: join(root, 'sdk'),
      port: 8080,
      write: [],
      read: [],
      limits: SANDBOX_DEFAULTS.limits,
      secretFiles: ['iron-cage.yaml', 'iron-cage.yml', 'iron-cage.toml'].map((x) => join(work, x)),
    });
    expect(policy.reserved.sort()).toEqual([join(work, 'iron-cage.yaml'), join(work, 'iron-cage.yml')]);
    expect(policy.masked).toContain(join(work, 'iron-cage.toml'));
    expect(policy.masked).not.toContain(join(work, 'iron-cage.yaml'));
  });
});
