import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { sandboxSupport } from '../../src/sandbox/index.js';
import { cli, cliInProcess, freePort, launchCli } from '../helpers/cli.js';
import { FIXTURES, ROOT, until } from '../helpers/runtime.js';

// Files the agent writes that the cage later trusts: the fourth probe's two ways out of the
// sandbox. A real agent, sandboxed by `iron-cage start`, plants a config under every name
// iron-cage looks for, a journal beside its state file, and the code of a configured stdio MCP
// server (a module for `python3 -m`, an executable on a PATH that names its folder), then has the
// cage launch that server. With --sandbox off each plant works (so the tests can fail); sandboxed,
// none is ever read or run, and a start whose config changed under a sandboxed run says so loudly.

const supported = sandboxSupport();
if (process.env.IRON_CAGE_CI && !supported.ok) throw new Error(`the sandbox cannot start here: ${supported.reason}`);

const ESCAPE = join(FIXTURES, 'agents/escape');
const PROBE = join(FIXTURES, 'mcp-probe');
const CONFIGS = ['iron-cage.yaml', 'iron-cage.yml', 'iron-cage.toml'];
const root = mkdtempSync(join(tmpdir(), 'iron-planted-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh working folder with the planter in it, and a marker path outside it. */
function workFolder(): { work: string; marker: string } {
  const dir = join(root, `run-${n++}`);
  const work = join(dir, 'work');
  mkdirSync(work, { recursive: true });
  for (const f of ['planter.py', 'waiter.py', 'scratch_bomb.py', 'own_code.py']) copyFileSync(join(ESCAPE, f), join(work, f));
  return { work, marker: join(dir, 'planted-server-ran') };
}

/**
 * `iron-cage start … --exit` in `work`, as a process of its own; `refused`: one the test expects
 * refused before anything starts, run in-process (cliInProcess: the same program, no cold start
 * of Node; an agent it started anyway would fail the run there).
 */
async function start(work: string, args: string[], env: NodeJS.ProcessEnv = {}, refused = false) {
  const argv = ['start', ...args, '--port', String(await freePort()), '--exit'];
  const r = refused ? await cliInProcess(argv, { cwd: work, env }) : await cli(argv, { cwd: work, env, timeoutMs: 45_000 });
  const out = r.stdout + r.stderr;
  const plants = new Map([...out.matchAll(/PLANT (ok|blocked) (\S+)/g)].map((m) => [m[2]!, m[1]!]));
  return { ...r, out, plants, mcp: /PLANT mcp (.*)$/m.exec(out)?.[1] ?? null };
}

describe.skipIf(!supported.ok)('files a sandboxed agent plants for the cage to trust later', () => {
  it('a config under any name iron-cage reads, or a journal beside its state, cannot be planted: the next identical start is sandboxed', async () => {
    const { work } = workFolder();
    const first = await start(work, ['planter.py']);
    expect(first.code, first.out).toBe(0);
    expect(first.out).toMatch(/sandbox: files, network, processes/);
    for (const f of [...CONFIGS, 'iron_state.db-journal']) expect(first.plants.get(f), `${f}\n${first.out}`).toBe('blocked');
    // The names were taken for the run only: nothing is left in the user's folder.
    for (const f of [...CONFIGS, 'iron_state.db-journal']) expect(existsSync(join(work, f)), f).toBe(false);
    const again = await start(work, ['planter.py']);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toMatch(/sandbox: files, network, processes/);
    expect(again.out).not.toMatch(/sandbox: off/);

    // Unsandboxed the same agent plants them, and a plain start then reads one: what the sandbox now prevents.
    const open = workFolder().work;
    const planted = await start(open, ['planter.py', '--sandbox', 'off']);
    for (const f of CONFIGS) expect(planted.plants.get(f), planted.out).toBe('ok');
    rmSync(join(open, 'iron_state.db-journal'), { force: true });
    const next = await start(open, ['planter.py']);
    expect(next.out).toContain(`sandbox: off (sandbox.mode: off in ${join(open, 'iron-cage.yaml')})`);
  }, 120_000);

  it("the folders holding the cage's files cannot be moved from under their masks, and /proc's machine-wide settings are read-only", async () => {
    // helper-134: renaming the folder of `--db state/…` carried the masked key along (readable at
    // its new name after a restart: an admin token forged); as root, /proc/sys was writable (the
    // kernel's core_pattern: a command it runs as root outside every namespace).
    const agent = [
      'import os',
      'def attempt(name, fn):',
      '    try:',
      '        fn(); print("PIN ok", name)',
      '    except OSError as e:',
      '        print("PIN blocked", name, e.errno)',
      'attempt("rename-state", lambda: os.rename("state", "state.old"))',
      'attempt("rename-deep", lambda: os.rename("state/deep", "state/gone"))',
      'attempt("rmdir-deep", lambda: os.rmdir("state/deep"))',
      'attempt("write-beside", lambda: open("state/deep/notes.txt", "w").write("mine"))',
      'attempt("read-key", lambda: open("state/deep/iron_state.db.key").read())',
      // A set-user-ID file (as root: the host's root) is refused; a plain mode is the agent's to set.
      'open("tool", "w").close()',
      'attempt("chmod-plain", lambda: os.chmod("tool", 0o755))',
      'attempt("chmod-setuid", lambda: os.chmod("tool", 0o4755))',
      'attempt("create-setgid", lambda: os.close(os.open("tool2", os.O_CREAT | os.O_WRONLY, 0o2755)))',
      // The sandboxed run only (never unsandboxed: as root that is the host's): /dev/null's mode, the run's own node's.
      'if os.environ.get("PIN_DEV") == "1":',
      '    attempt("chmod-dev-null", lambda: os.chmod("/dev/null", 0o660))',
      '    attempt("write-dev-null", lambda: open("/dev/null", "w").write("x"))',
      'writable = []',
      'for root, _dirs, files in os.walk("/proc/sys"):',
      '    for f in files:',
      '        try:',
      '            os.close(os.open(os.path.join(root, f), os.O_WRONLY)); writable.append(f)',
      '        except OSError:',
      '            pass',
      'for f in ["/proc/sysrq-trigger"]:',
      '    try:',
      '        os.close(os.open(f, os.O_WRONLY)); writable.append(f)',
      '    except OSError:',
      '        pass',
      'print("PROC writable", len(writable), writable[:5])',
    ].join('\n');
    const { work } = workFolder();
    writeFileSync(join(work, 'pin.py'), `${agent}\n`);
    mkdirSync(join(work, 'state/deep'), { recursive: true });
    let r: Awaited<ReturnType<typeof start>>;
    let hostNull = 0o666;
    try {
      r = await start(work, ['pin.py', '--restart', 'never', '--db', 'state/deep/iron_state.db'], { PIN_DEV: '1' });
    } finally {
      // Were the host's node reachable, the machine is put back before anything else fails.
      hostNull = statSync('/dev/null').mode & 0o777;
      if (hostNull !== 0o666 && process.getuid?.() === 0) chmodSync('/dev/null', 0o666);
    }
    // As root the agent is the owner of what it is shown: its /dev is the run's own nodes, the host's untouched.
    expect(hostNull.toString(8)).toBe('666');
    expect(r.out).toMatch(/PIN ok write-dev-null/);
    expect(r.out).toMatch(/sandbox: files, network, processes/);
    for (const step of ['rename-state', 'rename-deep', 'rmdir-deep', 'read-key', 'chmod-setuid', 'create-setgid']) expect(r.out, step).toMatch(new RegExp(`PIN blocked ${step} \\d+`));
    expect(r.out).toMatch(/PIN ok write-beside/);
    expect(r.out).toMatch(/PIN ok chmod-plain/);
    expect(statSync(join(work, 'tool')).mode & 0o7777).toBe(0o755);
    expect(r.out).toMatch(/PROC writable 0 \[\]/);
    expect(existsSync(join(work, 'state/deep/iron_state.db.key'))).toBe(true);
    // A state folder reached through a link in the agent's folder: the agent could point the link
    // at a folder of its own (its key, a fresh database) before the next start: refused, naming the path.
    symlinkSync('state', join(work, 'linked'));
    const linked = await start(work, ['pin.py', '--restart', 'never', '--db', 'linked/deep/iron_state.db'], {}, true);
    expect({ code: linked.code, out: linked.out }).toEqual({
      code: 2,
      out: `iron-cage: ${join(work, 'linked/deep/iron_state.db')}: ${join(work, 'linked')} is a symbolic link in a folder the sandboxed agent writes: it could point it elsewhere before the next start; give the path it leads to (${join(work, 'state')}), or run with --sandbox off\n`,
    });
    // Unsandboxed the same agent moves them (what the mounts now prevent).
    const open = workFolder().work;
    writeFileSync(join(open, 'pin.py'), `${agent}\n`);
    mkdirSync(join(open, 'state/deep'), { recursive: true });
    const off = await start(open, ['pin.py', '--restart', 'never', '--sandbox', 'off', '--db', 'state/deep/iron_state.db']);
    expect(off.out).toMatch(/PIN ok rename-state/);
    expect(off.out).toMatch(/PIN ok chmod-setuid/);
  }, 120_000);

  it('two cages in one working folder: the first to end leaves the names to the one still running, whose agent still cannot plant them; the last removes them', async () => {
    const { work } = workFolder();
    const names = [...CONFIGS, 'iron_state.db-journal'];
    // The first cage makes the placeholders; the second, started once the first's agent runs, finds them.
    const first = launchCli(['start', 'waiter.py', '--port', String(await freePort()), '--db', 'iron_a.db', '--exit'], {}, work);
    let second: ReturnType<typeof launchCli> | null = null;
    try {
      await until(() => first.out().includes('WAITER ready'), 30_000);
      second = launchCli(['start', 'planter.py', '--port', String(await freePort()), '--db', 'iron_b.db', '--exit'], { PLANT_AFTER: 'go2' }, work);
      await until(() => second!.out().includes('PLANTER ready'), 30_000);
      writeFileSync(join(work, 'go'), '');
      expect(await first.exited, first.out()).toBe(0);
      // Removed now, each name would lift the mount over it in the second sandbox (Linux detaches a
      // mount whose name is unlinked in another namespace), and its agent could write it.
      for (const f of names) expect(existsSync(join(work, f)), `${f} while the second cage runs`).toBe(true);
      writeFileSync(join(work, 'go2'), '');
      expect(await second.exited, second.out()).toBe(0);
      const plants = new Map([...second.out().matchAll(/PLANT (ok|blocked) (\S+)/g)].map((m) => [m[2]!, m[1]!]));
      for (const f of names) expect(plants.get(f), `${f}\n${second.out()}`).toBe('blocked');
      for (const f of names) expect(existsSync(join(work, f)), `${f} after both`).toBe(false);
    } finally {
      first.child.kill('SIGKILL');
      second?.child.kill('SIGKILL');
    }
  }, 90_000);

  it("a cage killed with -9 leaves its placeholders over this folder's default state: a start refuses them while that sandbox lives (exit 2), and clears them once it is gone", async () => {
    const work = realpathSync(workFolder().work);
    const state = ['iron_state.db', 'iron_state.db.key', 'iron_state.db.audit.key'];
    // The same folder through a symlink: its names are the same files, which the live sandbox covers.
    const alias = join(root, `alias-${n}`);
    symlinkSync(work, alias);
    // A cage with a database of its own reserves the names a later plain start would open here.
    const first = launchCli(['start', 'waiter.py', '--port', String(await freePort()), '--db', 'iron_a.db', '--exit'], {}, work);
    try {
      await until(() => first.out().includes('WAITER ready'), 30_000);
      for (const f of state) expect(statSync(join(work, f)).size, f).toBe(0);
      // Its agent must not get the names back: a plain start here is refused, in one line, and so
      // is one that names them through the symlinked folder.
      for (const db of [[], ['--db', join(alias, 'iron_state.db')]]) {
        const refused = await start(work, ['planter.py', ...db]);
        expect(refused.code, refused.out).toBe(2);
        expect(refused.out.trim().split('\n'), refused.out).toHaveLength(1);
        expect(refused.out).toMatch(/iron_state\.db is an empty placeholder a sandboxed run of another iron-cage holds over this name/);
        for (const f of state) expect(statSync(join(work, f)).size, f).toBe(0);
      }
      first.child.kill('SIGKILL');
      await first.exited;
    } finally {
      first.child.kill('SIGKILL');
    }
    // Killed, it gave nothing back; the next plain start, at once (its sandbox may not have ended
    // yet: the start waits for it), clears what was left (it crashed on the empty key before).
    for (const f of state) expect(statSync(join(work, f)).size, `${f} left by the killed cage`).toBe(0);
    const next = await start(work, ['planter.py']);
    expect(next.code, next.out).toBe(0);
    expect(statSync(join(work, 'iron_state.db')).size).toBeGreaterThan(0);
    expect(statSync(join(work, 'iron_state.db.key')).size).toBeGreaterThan(0);
  }, 180_000);

  it("a stdio MCP server runs the cage's code from a folder of its own: never a module, executable or PATH entry the agent wrote", async () => {
    const config = join(root, 'mcp.yaml');
    writeFileSync(
      config,
      [
        'mcp:',
        '  servers:',
        '    modrun:',
        '      command: python3',
        '      args: ["-m", "probe_server"]',
        `      env: { PYTHONPATH: "${PROBE}" }`,
        '    pathrun:',
        '      command: probe-server',
        '',
      ].join('\n'),
    );
    // Each run in a folder of its own, side by side; the PATH iron-cage starts with names the
    // agent's folder first: a lookup at launch would find what the agent planted there.
    const run = async (server: string, sandbox: 'on' | 'off') => {
      const { work, marker } = workFolder();
      // As a previous run of the agent would have left it: an executable under the server's command name, found first on that PATH.
      writeFileSync(join(work, 'probe-server'), `#!/bin/sh\necho 'the planted server ran' > ${marker}\n`, { mode: 0o755 });
      const env = { IRON_CAGE_CONFIG: config, PLANT_MARKER: marker, PLANT_MCP_SERVER: server, PATH: [work, join(PROBE, 'bin'), process.env.PATH].join(delimiter) };
      return { ...(await start(work, ['planter.py', '--sandbox', sandbox], env)), marker };
    };
    const [modrun, pathrun, open] = await Promise.all([run('modrun', 'on'), run('pathrun', 'on'), run('modrun', 'off')]);
    for (const [server, r] of [
      ['modrun', modrun],
      ['pathrun', pathrun],
    ] as const) {
      expect(r.code, r.out).toBe(0);
      expect(r.plants.get('probe_server.py'), r.out).toBe('ok');
      expect(r.plants.get('probe-server'), r.out).toBe('ok');
      // The fixture's own file, as the command was found (python3 -m: the module; probe-server: its link on PATH).
      expect(r.mcp, r.out).toMatch(new RegExp(`^real server ${PROBE}/(probe_server\\.py|bin/probe-server) in /\\S+/iron-cage-mcp-${server}-`));
      expect(existsSync(r.marker), r.out).toBe(false);
    }
    // Unsandboxed, the server is launched as configured, in iron-cage's working folder: the planted module runs.
    expect(open.code, open.out).toBe(0);
    expect(readFileSync(open.marker, 'utf8')).toBe('the planted server ran');
  }, 120_000);

  it('a stdio server whose code, folder or search path lies in the agent’s folders refuses the start, naming the key', async () => {
    const { work } = workFolder();
    copyFileSync(join(PROBE, 'probe_server.py'), join(work, 'probe_server.py'));
    // A venv in the agent's folder: its python is a link to the system's, which the agent could replace (or its site-packages).
    mkdirSync(join(work, '.venv/bin'), { recursive: true });
    symlinkSync(realpathSync(execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim()), join(work, '.venv/bin/python'));
    const cases: Array<[string, string, RegExp]> = [
      ['local', 'command: python3\n      args: ["./probe_server.py"]', /mcp\.servers\.local\.args\[0\]: \S+\/work\/probe_server\.py is in \S+\/work, a folder the sandboxed agent writes/],
      ['here', `command: python3\n      args: ["-m", "probe_server"]\n      cwd: .`, /mcp\.servers\.here\.cwd: \S+\/work is in \S+\/work, a folder the sandboxed agent writes/],
      ['script', 'command: ./probe_server.py', /mcp\.servers\.script\.command: \S+\/work\/probe_server\.py is in/],
      ['venv', 'command: ./.venv/bin/python\n      args: ["-m", "probe_server"]', /mcp\.servers\.venv\.command: \S+\/work\/\.venv\/bin\/python is in/],
      ['search', `command: python3\n      args: ["-m", "probe_server"]\n      env: { PYTHONPATH: "${work}" }`, /mcp\.servers\.search\.env\.PYTHONPATH: \S+\/work is in/],
    ];
    const runs = await Promise.all(
      cases.map(async ([name, body]) => {
        const config = join(root, `refused-${name}.yaml`);
        writeFileSync(config, `mcp:\n  servers:\n    ${name}:\n      ${body}\n`);
        return start(work, ['planter.py', '--sandbox', 'on', '--config', config], {}, true);
      }),
    );
    runs.forEach((r, i) => {
      expect(r.code, r.out).toBe(2);
      expect(r.out).toMatch(cases[i]![2]);
      expect(r.out).not.toMatch(/PLANT/);
    });
  }, 120_000);

  // Two runs of `iron-cage start` with an agent each (each given 45 s): 18 s of a 30 s limit in a loaded full run.
  it("iron-cage's own code stays read-only to the agent even in a folder its config lets it write: the cage loads code from there after the agent started", { timeout: 120_000 }, async () => {
    const { work } = workFolder();
    // This clone's built code (what `iron-cage start` runs from here) and its packages.
    const own = [join(ROOT, 'dist'), join(ROOT, 'node_modules')];
    writeFileSync(join(work, 'iron-cage.yaml'), `sandbox:\n  write:\n${own.map((d) => `    - ${d}\n`).join('')}`);
    const env = { OWN_CODE: own.join(delimiter) };
    const caged = await start(work, ['own_code.py'], env);
    expect(caged.code, caged.out).toBe(0);
    expect(caged.out).toMatch(/sandbox: files, network, processes/);
    for (const d of own) expect(caged.out).toMatch(new RegExp(`OWN blocked ${d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(Read-only file system\\)`));
    // Unsandboxed the same config lets it write there (the probe removes what it made): what the sandbox prevents.
    const open = await start(work, ['own_code.py', '--sandbox', 'off'], env);
    for (const d of own) expect(open.out).toContain(`OWN ok ${d}`);
  });

  it('a start whose config changed while a sandboxed agent ran, and turns the sandbox off, says so loudly and keeps it in the audit trail', async () => {
    const { work } = workFolder();
    const port = await freePort();
    const run = launchCli(['start', 'waiter.py', '--port', String(port), '--exit'], {}, work);
    await until(() => run.out().includes('WAITER ready'), 30_000);
    // The one name left writable would be the host's side of a placeholder: written here, as a hole in the sandbox would.
    writeFileSync(join(work, 'iron-cage.yaml'), 'sandbox:\n  mode: off\n');
    writeFileSync(join(work, 'go'), '');
    expect(await run.exited, run.out()).toBe(0);
    expect(readFileSync(join(work, 'iron-cage.yaml'), 'utf8')).toContain('mode: off');
    const next = await start(work, ['waiter.py']);
    expect(next.code, next.out).toBe(0);
    expect(next.out).toMatch(/THE SANDBOX IS WEAKER THAN IN THE LAST SANDBOXED RUN: the sandbox is off/);
    expect(next.out).toMatch(/changed at \S+ while the sandboxed agent waiter \([a-z]+-[0-9a-f]+\) was running/);
    const db = new Database(join(work, 'iron_state.db'), { readonly: true });
    try {
      const row = db.prepare("select severity, data from events where type = 'sandbox.weakened'").get() as { severity: string; data: string };
      expect(row.severity).toBe('critical');
      expect(JSON.parse(row.data)).toMatchObject({ file: join(work, 'iron-cage.yaml'), wider: ['the sandbox is off'] });
    } finally {
      db.close();
    }
  }, 120_000);

  it('every folder the agent writes in memory is sized from its memory limit; /run and /dev are read-only', async () => {
    const { work } = workFolder();
    const config = join(root, 'scratch.yaml');
    writeFileSync(config, 'sandbox:\n  limits:\n    memory_mb: 128\n');
    const r = await start(work, ['scratch_bomb.py', '--config', config]);
    expect(r.code, r.out).toBe(0);
    const written = new Map([...r.out.matchAll(/SCRATCH (\S+) (\d+) (.+)$/gm)].map((m) => [m[1]!, { bytes: Number(m[2]), why: m[3]!.trim() }]));
    // 128 MB of memory: 8 MB in each of the four, full at that (a few pages of the mount's own aside).
    for (const f of ['/tmp', '/var/tmp', '/dev/shm']) {
      expect(written.get(f)?.why, r.out).toBe('No space left on device');
      expect(written.get(f)!.bytes).toBeLessThanOrEqual(8 * 1024 * 1024);
    }
    const home = [...written.keys()].find((f) => !['/tmp', '/var/tmp', '/dev/shm', '/run', '/dev'].includes(f))!;
    expect(written.get(home), `the home folder ${home}`).toMatchObject({ why: 'No space left on device' });
    expect(written.get(home)!.bytes).toBeLessThanOrEqual(8 * 1024 * 1024);
    for (const f of ['/run', '/dev']) expect(written.get(f)?.why, r.out).toBe('Read-only file system');
    // tmp_mb the four folders could not hold within memory_mb: refused before anything starts.
    writeFileSync(config, 'sandbox:\n  limits:\n    memory_mb: 128\n    tmp_mb: 64\n');
    const refused = await start(work, ['scratch_bomb.py', '--config', config], {}, true);
    expect(refused.code).toBe(2);
    expect(refused.out).toContain('sandbox.limits.tmp_mb (64) is more than memory_mb (128) allows');
  }, 90_000);
});
