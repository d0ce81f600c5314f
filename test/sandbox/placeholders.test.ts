import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SANDBOX_DEFAULTS } from '../../src/config/index.js';
import { clearStateNames, sandboxPolicy } from '../../src/sandbox/index.js';
import { bwrapArgs } from '../../src/sandbox/bwrap.js';
import { isPlaceholder, releaseNames, takeNames } from '../../src/sandbox/placeholders.js';
import { until } from '../helpers/runtime.js';

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

/** A Python agent's policy in `work`, with the cage's files `secretFiles` and the folders `write` besides it. */
const policyOf = (work: string, secretFiles: string[], write: string[] = []) =>
  sandboxPolicy({ cwd: work, script: join(work, 'agent.py'), interpreter: '/usr/bin/python3', sdk: join(root, 'sdk'), port: 8080, write, read: [], limits: SANDBOX_DEFAULTS.limits, secretFiles });

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
    const policy = policyOf(
      work,
      ['iron-cage.yaml', 'iron-cage.yml', 'iron-cage.toml'].map((x) => join(work, x)),
    );
    expect(policy.reserved.sort()).toEqual([join(work, 'iron-cage.yaml'), join(work, 'iron-cage.yml')]);
    expect(policy.masked).toContain(join(work, 'iron-cage.toml'));
    expect(policy.masked).not.toContain(join(work, 'iron-cage.yaml'));
  });

  it("pins every folder between the outermost folder the agent writes and a file of the cage's, a writable one among them, bound after its parent", () => {
    const parent = folder();
    const work = join(parent, 'proj');
    mkdirSync(join(work, 'state/deep'), { recursive: true });
    const db = join(work, 'state/deep/iron_state.db');
    writeFileSync(db, '');
    // `sandbox.write: [".."]`: the working folder inside another the agent writes.
    const policy = policyOf(work, [db, join(work, 'iron_state.db.key')], ['..']);
    expect(policy.pinned).toEqual([work, join(work, 'state'), join(work, 'state/deep')]);
    const args = bwrapArgs({ policy, perl: '/usr/bin/perl', prlimit: '/usr/bin/prlimit', cwd: work, command: 'python3', args: ['agent.py'], seccomp: false });
    const bind = (d: string) => args.findIndex((a, i) => a === '--bind-try' && args[i + 1] === d && args[i + 2] === d);
    const binds = args.flatMap((a, i) => (a === '--bind-try' ? [args[i + 1]!] : []));
    // The parent first, then each pinned folder over it (a later bind of the parent would undo the working folder's mount).
    expect(binds.indexOf(parent)).toBeLessThan(binds.lastIndexOf(work));
    expect(bind(join(work, 'state/deep'))).toBeGreaterThan(bind(parent));
    expect(args.lastIndexOf(join(work, 'state/deep'))).toBeLessThan(args.indexOf(db));
  });

  it('a start waits for a sandbox over its state that is ending (its cage just killed with -9, restarted at once), and refuses one that lives on', async () => {
    const dir = folder();
    const db = join(dir, 'iron_state.db');
    const left = [db, `${db}.key`, `${db}.audit.key`];
    const leave = () => {
      for (const f of left) {
        writeFileSync(f, '');
        chmodSync(f, 0o400);
      }
    };
    // A sandbox as /proc shows it: a process named bwrap whose arguments cover the state's files
    // with /dev/null (a shell script under that name: its arguments are the script's), living `s` seconds.
    const bwrap = join(dir, 'bwrap');
    writeFileSync(bwrap, '#!/bin/sh\nsleep "$1"\n', { mode: 0o755 });
    const cover = async (s: number) => {
      const p = spawn(bwrap, [String(s), ...left.flatMap((f) => ['--ro-bind', '/dev/null', f]), '--', 'python3', 'agent.py'], { stdio: 'ignore' });
      const exited = new Promise((r) => p.on('exit', r));
      await until(() => {
        try {
          return readFileSync(`/proc/${p.pid}/comm`, 'utf8') === 'bwrap\n';
        } catch {
          return false;
        }
      }, 10_000);
      return { p, exited };
    };
    const argumentsOf = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    };
    leave();
    const ending = await cover(0.5);
    await clearStateNames(db);
    // It returned once that sandbox had ended (gone from /proc, or a zombie with no arguments
    // left), and took the placeholders away.
    expect(argumentsOf(ending.p.pid!)).toBe('');
    expect(await ending.exited).toBe(0);
    expect(left.filter((f) => existsSync(f))).toEqual([]);

    leave();
    const living = await cover(120);
    try {
      await expect(clearStateNames(db, 300)).rejects.toThrow(`${db} is an empty placeholder a sandboxed run of another iron-cage holds over this name`);
      expect(left.filter((f) => isPlaceholder(f))).toEqual(left);
    } finally {
      living.p.kill('SIGKILL');
      await living.exited;
    }
  });

  describe('what a live system rarely shows, read from a folder laid out as /proc is', () => {
    const me = process.geteuid?.() ?? 0;
    /** A /proc of its own: its mount's options, this process's effective capabilities, and processes by pid. */
    type FakeProcess = { comm: string; cmdline: string; state: string; nspid?: string; uid?: number };
    const status = (p: FakeProcess) => `Name:\t${p.comm}\nState:\t${p.state} (x)\nUid:\t${p.uid ?? me}\t${p.uid ?? me}\t${p.uid ?? me}\t${p.uid ?? me}\nNSpid:\t${p.nspid ?? '4242\t1'}\n`;
    const fakeProc = (o: { hidepid?: boolean; ptrace?: boolean; processes?: Record<string, FakeProcess> }) => {
      const proc = join(folder(), 'proc');
      mkdirSync(join(proc, 'self'), { recursive: true });
      writeFileSync(join(proc, 'self', 'mountinfo'), `22 1 0:5 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw${o.hidepid ? ',hidepid=2' : ''}\n`);
      writeFileSync(join(proc, 'self', 'status'), `Name:\tnode\nCapEff:\t${o.ptrace ? '0000000000080000' : '0000000000000000'}\n`);
      for (const [pid, p] of Object.entries(o.processes ?? {})) {
        mkdirSync(join(proc, pid));
        writeFileSync(join(proc, pid, 'comm'), `${p.comm}\n`);
        writeFileSync(join(proc, pid, 'cmdline'), p.cmdline);
        writeFileSync(join(proc, pid, 'status'), status(p));
      }
      return proc;
    };
    const leftIn = (dir: string) => {
      const db = join(dir, 'iron_state.db');
      for (const f of [db, `${db}.key`]) {
        writeFileSync(f, '');
        chmodSync(f, 0o400);
      }
      return { db, left: () => [db, `${db}.key`].filter((f) => existsSync(f)) };
    };

    it('a sandbox’s bwrap exiting (its arguments gone, PID 1 of its namespace, not yet a zombie: its processes may still run) holds every name until it is one', async () => {
      const { db, left } = leftIn(folder());
      const proc = fakeProc({ processes: { '4242': { comm: 'bwrap', cmdline: '', state: 'R' } } });
      let zombieAt = 0;
      setTimeout(() => {
        writeFileSync(join(proc, '4242', 'status'), status({ comm: 'bwrap', cmdline: '', state: 'Z' }));
        zombieAt = performance.now();
      }, 300);
      await clearStateNames(db, 10_000, proc);
      expect(zombieAt, 'went on before the bwrap was a zombie').toBeGreaterThan(0);
      expect(left()).toEqual([]);
      // One that stays so is refused, its names kept.
      const again = leftIn(folder());
      const stuck = fakeProc({ processes: { '4243': { comm: 'bwrap', cmdline: '', state: 'D' } } });
      await expect(clearStateNames(again.db, 200, stuck)).rejects.toThrow('holds over this name');
      expect(again.left()).toHaveLength(2);
      // A process named bwrap with no arguments that is no namespace's first process holds nothing
      // (anyone may make one); another user's exiting sandbox only names in a folder others may write.
      await clearStateNames(again.db, 0, fakeProc({ processes: { '4244': { comm: 'bwrap', cmdline: '', state: 'S', nspid: '4244' } } }));
      expect(again.left()).toEqual([]);
      const others = { processes: { '4245': { comm: 'bwrap', cmdline: '', state: 'S', uid: me + 1 } } };
      const mine = folder();
      chmodSync(mine, 0o700);
      const inMine = leftIn(mine);
      await clearStateNames(inMine.db, 0, fakeProc(others));
      expect(inMine.left()).toEqual([]);
      const shared = folder();
      chmodSync(shared, 0o777);
      const inShared = leftIn(shared);
      await expect(clearStateNames(inShared.db, 100, fakeProc(others))).rejects.toThrow('holds over this name');
      expect(inShared.left()).toHaveLength(2);
    });

    it('with hidepid, a name in a folder another user may write cannot be known, unless this process may trace all; a private folder’s can', async () => {
      const shared = folder();
      chmodSync(shared, 0o777);
      const inShared = leftIn(shared);
      await expect(clearStateNames(inShared.db, 0, fakeProc({ hidepid: true }))).rejects.toThrow('whether one still holds it cannot be known here');
      expect(inShared.left()).toHaveLength(2);
      await clearStateNames(inShared.db, 0, fakeProc({ hidepid: true, ptrace: true }));
      expect(inShared.left()).toEqual([]);
      const mine = folder();
      chmodSync(mine, 0o700);
      const inMine = leftIn(mine);
      await clearStateNames(inMine.db, 0, fakeProc({ hidepid: true }));
      expect(inMine.left()).toEqual([]);
      // Without hidepid the shared folder's are cleared too.
      const again = leftIn(shared);
      await clearStateNames(again.db, 0, fakeProc({}));
      expect(again.left()).toEqual([]);
    });
  });
});
