import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otlpReceiver } from '../helpers/otlp.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Run, run as runProgram } from '../helpers/run.js';
import { ROOT, tempDir, until } from '../helpers/runtime.js';

// The single executable as a user runs it: built by scripts/exe.mjs from this build's dist/,
// copied alone into an empty folder and run with no `node` on PATH, no node_modules in reach, a
// home of its own (a clean cache at first), from a working folder of its own.

const BUILD = JSON.parse(readFileSync(join(ROOT, 'dist/build.json'), 'utf8')) as { version: string; commit: string };
const EXE_NAME = `iron-cage-${process.platform}-${process.arch}`;

let place: { dir: string; cleanup: () => void };
let exe: string;
let env: NodeJS.ProcessEnv;
let pg: TestPostgres;

function run(args: string[], o: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return runProgram(exe, args, { cwd: o.cwd ?? join(place.dir, 'work'), env: { ...env, ...o.env }, input: o.input, timeoutMs: 120_000 });
}

/** A long-running command: its output so far, and its end. */
function launch(args: string[], cwd: string, extra: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(exe, args, { cwd, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (c) => (text += c));
  child.stderr!.on('data', (c) => (text += c));
  return { child, out: () => text, exited: new Promise((r) => child.on('exit', (code) => r(code))) };
}

/** Every program on this PATH but Node's (node, npm, npx, corepack), and python3 as the file it is. */
function pathWithoutNode(bin: string): string {
  mkdirSync(bin);
  const python = realpathSync(
    (process.env.PATH ?? '')
      .split(delimiter)
      .map((d) => join(d, 'python3'))
      .find((p) => existsSync(p)) ?? '/usr/bin/python3',
  );
  // A pyenv shim finds its Python through the home this test replaces: the interpreter itself.
  symlinkSync(execFileSync(python, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim(), join(bin, 'python3'));
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || dir.includes('node_modules') || !existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (['node', 'nodejs', 'npm', 'npx', 'corepack'].includes(name) || existsSync(join(bin, name))) continue;
      try {
        symlinkSync(join(dir, name), join(bin, name));
      } catch {
        /* a name already linked */
      }
    }
  }
  return bin;
}

beforeAll(async () => {
  place = tempDir('iron-cage-exe-');
  const built = await runProgram(process.execPath, [join(ROOT, 'scripts/exe.mjs'), join(place.dir, 'out')], { timeoutMs: 120_000 });
  if (built.code !== 0) throw new Error(`scripts/exe.mjs failed: ${built.stderr}`);
  mkdirSync(join(place.dir, 'alone'));
  exe = join(place.dir, 'alone', 'iron-cage');
  copyFileSync(join(place.dir, 'out', EXE_NAME), exe);
  mkdirSync(join(place.dir, 'home'));
  mkdirSync(join(place.dir, 'work'));
  env = { HOME: join(place.dir, 'home'), PATH: pathWithoutNode(join(place.dir, 'bin')), LANG: 'C.UTF-8', TMPDIR: process.env.TMPDIR ?? '/tmp' };
  pg = await startPostgres();
}, 180_000);

afterAll(async () => {
  await pg?.destroy();
  place?.cleanup();
});

describe('the single executable, alone in a folder, with no Node on the machine', () => {
  it('is one file within its size goal, says its version and commit, and unpacks itself once into the user cache', async () => {
    expect(statSync(exe).size).toBeLessThan(115 * 1024 * 1024);
    // Nothing of Node's is reachable from its PATH.
    expect((await run(['--version'], { env: { PATH: env.PATH } })).stdout.trim()).toBe(`${BUILD.version} (commit ${BUILD.commit})`);
    const cache = join(place.dir, 'home', '.cache', 'iron-cage');
    const [folder] = readdirSync(cache);
    expect(folder).toMatch(new RegExp(`^${BUILD.version.replace(/\./g, '\\.')}-[0-9a-f]{16}$`));
    for (const f of [
      'bin/iron-cage.js',
      'dist/cli.js',
      'dist/web/index.html',
      'dist/migrations/sqlite/meta/_journal.json',
      'dist/python/iron_cage/__init__.py',
      'node_modules/better-sqlite3/package.json',
    ]) {
      expect(existsSync(join(cache, folder!, f)), f).toBe(true);
    }
    // A file changed there is written again before anything runs.
    chmodSync(join(cache, folder!, 'dist/cli.js'), 0o644);
    appendFileSync(join(cache, folder!, 'dist/cli.js'), '\nprocess.exit(7);\n');
    const again = await run(['--version']);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`${join(cache, folder!, 'dist/cli.js')} changed since iron-cage unpacked them: unpacking again`);
    expect(readFileSync(join(cache, folder!, 'dist/cli.js'), 'utf8')).not.toContain('process.exit(7)');
    const quiet = await run(['--version']);
    expect([quiet.code, quiet.stderr]).toEqual([0, '']);
    // A flag it does not know is refused as the CLI refuses it.
    const bad = await run(['demo', '--bogus']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Unknown argument: bogus');
  }, 120_000);

  it('plays the demo to its end', async () => {
    const r = await run(['demo', '--pace', 'fast', '--port', '0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Leads processed\s+100 \/ 100/);
    expect(r.stdout).toMatch(/PII blocked\s+1/);
    expect(r.stdout).toContain('Key rotation');
  }, 120_000);

  it('cages the Python standard-library example in the sandbox, with its budget and its summary', async () => {
    const agentDir = join(place.dir, 'agent');
    cpSync(join(ROOT, 'examples/python-stdlib'), agentDir, { recursive: true });
    // With traces on: the OpenTelemetry SDK is in the executable too.
    const receiver = await otlpReceiver();
    const c = launch(['start', 'agent.py', '--budget', '50', '--port', '0', '--sandbox', 'on'], agentDir, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    try {
      await until(() => c.out().includes('press Ctrl-C'), 90_000);
    } finally {
      c.child.kill('SIGINT');
    }
    expect(await c.exited).toBe(0);
    const out = c.out();
    expect(out).toMatch(/Progress\s+3 \/ 3 steps/);
    expect(out).toMatch(/Total cost\s+\$0\.0000\d+ of \$50\.00 budget \(3 LLM calls\)/);
    expect(out).toMatch(/Sandbox\s+files, network, processes/);
    expect(out).toContain('tool get_weather');
    expect(out).not.toMatch(/traces are off/);
    try {
      await until(() => receiver.spans.filter((sp) => sp.name === 'chat gpt-4o-mini').length === 3, 20_000);
    } finally {
      await receiver.close();
    }
  }, 120_000);

  it('runs a Node agent on its own Node, in the sandbox, which keeps the home folder from it', async () => {
    const agentDir = join(place.dir, 'node-agent');
    mkdirSync(agentDir);
    writeFileSync(join(place.dir, 'home', 'secret.txt'), 'not for the agent');
    writeFileSync(
      join(agentDir, 'agent.mjs'),
      [
        "import { existsSync } from 'node:fs';",
        "const r = await fetch(`${process.env.OPENAI_BASE_URL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${process.env.OPENAI_API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }) });",
        `console.log(\`node agent \${process.argv.slice(2).join(' ')}: \${r.status}, home secret \${existsSync(${JSON.stringify(join(place.dir, 'home', 'secret.txt'))})}\`);`,
      ].join('\n'),
    );
    const r = await run(['start', 'agent.mjs', '--budget', '1', '--sandbox', 'on', '--exit', '--port', '0', '--', 'one', 'two'], { cwd: agentDir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('node agent one two: 200, home secret false');
    expect(r.stdout).toMatch(/Total cost\s+\$0\.0000\d+ of \$1\.00 budget \(1 LLM call\)/);
    expect(r.stdout).toMatch(/Sandbox\s+files, network, processes/);
    // A CommonJS agent is the main module, as under `node`.
    writeFileSync(join(agentDir, 'main.cjs'), "if (require.main === module) console.log('main module', process.argv.slice(2).join(' '));\n");
    const cjs = await run(['start', 'main.cjs', '--sandbox', 'on', '--exit', '--port', '0', '--', 'x', 'y'], { cwd: agentDir });
    expect(cjs.stdout).toContain('main module x y');
    // Its syntax checked before it starts, as `node --check` does.
    writeFileSync(join(agentDir, 'broken.cjs'), 'const a = 1;\nconst b = ;\n');
    const broken = await run(['start', 'broken.cjs', '--exit', '--port', '0'], { cwd: agentDir });
    expect([broken.code, broken.stderr]).toEqual([2, "iron-cage: agent script broken.cjs:2: SyntaxError: Unexpected token ';' (fix it and start again)\n"]);
  }, 120_000);

  it('scans text for PII from standard input', async () => {
    // The second line takes the phone check's fallback to libphonenumber's own code (its CommonJS build, beside its ES modules).
    const r = await run(['scan'], { input: 'mail ann@example.com, SSN 123-45-6789, call +1 415 555 0132\nPhone: 116 476 457972, or 310 261 514605\n' });
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/EMAIL/);
    expect(r.stdout).toMatch(/SSN/);
    expect(r.stdout).toMatch(/PHONE/);
  }, 60_000);

  it('serves the dashboard and the API, keeps secrets and makes tokens', async () => {
    const key = { IRON_CAGE_MASTER_KEY: 'a master key of the executable test' };
    const db = join(place.dir, 'work', 'serve.db');
    const set = await run(['secrets', 'set', 'CRM_TOKEN', '--db', db], { env: key, input: 'crm-7f3a\n' });
    expect(set.code, set.stderr).toBe(0);
    const got = await run(['secrets', 'get', 'CRM_TOKEN', '--db', db], { env: key });
    expect([got.code, got.stdout.trim()]).toEqual([0, 'crm-7f3a']);
    const token = await run(['token', 'create', '--role', 'viewer', '--name', 'notebook', '--db', db], { env: key });
    expect(token.code, token.stderr).toBe(0);
    const bearer = /ic_[A-Za-z0-9_-]+/.exec(token.stdout)?.[0];
    expect(bearer).toBeDefined();
    const s = launch(['serve', '--db', db, '--port', '0'], join(place.dir, 'work'), key);
    try {
      const url = await until(() => /dashboard (http:\/\/127\.0\.0\.1:\d+)/.exec(s.out())?.[1], 60_000);
      expect((await fetch(`${url}/api/health`)).status).toBe(200);
      const page = await (await fetch(url)).text();
      const script = /src="(\/assets\/main-[\w-]+\.js)"/.exec(page)?.[1];
      expect(script).toBeDefined();
      expect((await fetch(`${url}${script}`)).status).toBe(200);
      const agents = await fetch(`${url}/api/agents`, { headers: { authorization: `Bearer ${bearer}` } });
      expect(agents.status).toBe(200);
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  }, 120_000);

  it('runs the control panel on PostgreSQL', async () => {
    const database = await pg.createDatabase('exe');
    const p = launch(['panel', '--database', database, '--port', '0'], join(place.dir, 'work'));
    try {
      const url = await until(() => /(http:\/\/127\.0\.0\.1:\d+)/.exec(p.out())?.[1], 60_000);
      await until(async () => (await fetch(`${url}/api/health`).catch(() => null))?.status === 200, 30_000);
    } finally {
      p.child.kill('SIGTERM');
    }
    expect(await p.exited).toBe(0);
    expect(p.out()).toMatch(/panel/i);
  }, 120_000);
});
