import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { flagOf, OPTIONS, type Command, type OptionSpec } from '../../src/config/index.js';
import { CLI_TEST_TIMEOUT_MS, cliInProcess } from '../helpers/cli.js';
import { dashboardSession, processRunning, ROOT, startTestRuntime, tempDir, until } from '../helpers/runtime.js';

const CLI = join(ROOT, 'bin/iron-cage.js');
const SLEEPER = join(ROOT, 'test/fixtures/agents/sleeper.py');
/** The same agent in Python and in Node.js: supervision must not depend on the language. */
const SLEEPERS = [
  { language: 'Python', script: SLEEPER },
  { language: 'Node.js', script: join(ROOT, 'test/fixtures/agents/sleeper.mjs') },
];
const HELLO = join(ROOT, 'demo/hello_agent.py');

function run(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// What is decided before anything starts (help, a refused flag, value or config) runs in this
// process (cliInProcess: the same program, no cold start of Node for each); one of each kind
// still runs as a process of its own, and everything about the process (its exit with the
// agent's, signals, a server) does.

describe('iron-cage command line', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it('prints help that names the commands and options', async () => {
    // As a process: help, then an exit of its own accord with 0.
    const top = run(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('iron-cage start [script] [args..]');
    expect(top.stdout).toContain('iron-cage serve');
    expect(top.stderr).toBe('');
    // In-process, the same text as the process printed.
    expect(await cliInProcess(['--help'])).toEqual(top);
    const start = await cliInProcess(['start', '--help']);
    expect(start.code).toBe(0);
    for (const flag of ['--budget', '--port', '--host', '--db', '--config', '--safety-mode', '--python', '--verbose', '--log-format', '--restart', '--name', '--exit']) {
      expect(start.stdout).toContain(flag);
    }
    // Node agents run too (src/supervisor/bootstrap.ts): the help does not say Python alone.
    expect(start.stdout).toContain('Run an agent (Python .py, or Node .js/.mjs/.cjs) under supervision');
    expect(start.stdout).not.toContain('Run a Python agent');
    // And any program after -- (its own form).
    expect(start.stdout).toContain('iron-cage start [options] -- <command> [args...]');
    expect(start.stdout).toMatch(/--log-format +Terminal log format \[default: pretty\] \[choices: "pretty", "json"\]/);
    expect(start.stdout.replace(/\s+/g, ' ')).toContain('Precedence: flags > IRON_CAGE_* environment > config file > defaults. The variables: IRON_CAGE_BUDGET (--budget), IRON_CAGE_PORT (--port)');
  });

  it('lists every shared option in the help of each command that takes it, worded for that command', async () => {
    const options = Object.entries(OPTIONS) as Array<[string, OptionSpec]>;
    const commands = [...new Set(options.flatMap(([, o]) => Object.keys(o.commands)))] as Command[];
    expect(commands.sort()).toEqual(['audit', 'dashboard', 'demo', 'panel', 'redact', 'scan', 'secrets', 'serve', 'start', 'token', 'user']);
    for (const command of commands) {
      const help = await cliInProcess([command, '--help']);
      expect(help.code, command).toBe(0);
      const text = help.stdout.replace(/\s+/g, ' ');
      for (const [name, o] of options) {
        const own = o.commands[command];
        if (own === undefined) expect(text, `${command} ${flagOf(name)}`).not.toContain(`${flagOf(name)} `);
        else expect(text, `${command} ${flagOf(name)}`).toContain(`${flagOf(name)} ${(typeof own === 'string' ? own : o.describe).replace(/\s+/g, ' ')}`);
      }
    }
  });

  it('refuses a bad value with the same message from a flag and from its variable, each naming itself', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'agent.py'), 'print("hi")\n');
      const cases = [
        ['--port', 'IRON_CAGE_PORT', 'abc'],
        ['--log-format', 'IRON_CAGE_LOG_FORMAT', 'xml'],
        ['--restart', 'IRON_CAGE_RESTART', 'sometimes'],
      ] as const;
      const results = await Promise.all(
        cases.map(async ([flag, variable, value]) => ({
          flag,
          variable,
          byFlag: await cliInProcess(['start', 'agent.py', flag, value, '--db', join(dir, 's.db')], { cwd: dir }),
          byEnv: await cliInProcess(['start', 'agent.py', '--db', join(dir, 's.db')], { cwd: dir, env: { [variable]: value } }),
        })),
      );
      for (const { flag, variable, byFlag, byEnv } of results) {
        expect([byFlag.code, byEnv.code]).toEqual([2, 2]);
        expect(byFlag.stderr).toMatch(new RegExp(`^iron-cage: ${flag}: `));
        expect(byEnv.stderr.replace(variable, flag)).toBe(byFlag.stderr);
      }
      expect(existsSync(join(dir, 's.db'))).toBe(false);
    } finally {
      cleanup();
    }
  });

  describe('rejects bad input with one clear line and exit code 2, starting nothing', () => {
    const { dir } = tempDir();
    writeFileSync(join(dir, 'agent.py'), 'print("hi")\n');
    writeFileSync(join(dir, 'agent.txt'), 'print("hi")\n');
    writeFileSync(join(dir, 'agent'), 'print("hi")\n');
    writeFileSync(join(dir, 'bad.yaml'), 'port: [1, 2\n');
    writeFileSync(join(dir, 'unknown.yaml'), 'budgte: 50\n');
    writeFileSync(join(dir, 'wrongtype.toml'), 'port = "eighty"\n');
    writeFileSync(join(dir, 'nested.yaml'), 'restart:\n  max_restarts: -1\n');
    writeFileSync(join(dir, 'mcp-missing.yaml'), 'mcp:\n  servers:\n    files:\n      command: no-such-mcp-server-d41d8c\n');
    // Each in-process, but for those marked: a malformed command line (yargs) and a bad variable,
    // as processes of their own.
    const asProcess = new Set(['unknown flag', 'bad env value']);
    const cases: Array<[string, string[], RegExp, NodeJS.ProcessEnv?]> = [
      ['missing script', ['start', 'nope.py'], /agent script nope\.py: file not found/],
      ['directory as script', ['start', '.'], /agent script \.: not a file/],
      [
        'unknown extension',
        ['start', 'agent.txt'],
        /agent script agent\.txt: '\.txt' is not an agent iron-cage can run \(\.py, \.js, \.mjs, \.cjs: \.py runs on Python, the others on Node\.js; any other program runs after --: iron-cage start -- \.\/agent\.txt\)/,
      ],
      ['no extension', ['start', 'agent'], /agent script agent: no extension to say how to run it \(\.py, \.js, \.mjs, \.cjs/],
      ['unknown flag', ['start', 'agent.py', '--bogus'], /Unknown argument: bogus/],
      ['no command', [], /Name a command/],
      ['budget not a number', ['start', 'agent.py', '--budget', 'fifty'], /--budget: "fifty" is not an amount in dollars/],
      ['budget eaten by the shell', ['start', 'agent.py', '--budget', '0'], /--budget: must be more than \$0 \(if you typed --budget \$50/],
      ['port not a number', ['start', 'agent.py', '--port', 'abc'], /--port: "abc" is not a whole number/],
      ['port out of range', ['start', 'agent.py', '--port', '70000'], /--port: must be 0-65535/],
      ['bad safety mode', ['start', 'agent.py', '--safety-mode', 'yolo'], /--safety-mode: must be one of redact, block, warn/],
      ['missing python', ['start', 'agent.py', '--python', 'python9.9-nope'], /--python: interpreter 'python9\.9-nope' not found on PATH/],
      ['missing config file', ['start', 'agent.py', '--config', 'absent.yaml'], /config .*absent\.yaml: file not found/],
      ['invalid YAML', ['start', 'agent.py', '--config', 'bad.yaml'], /config .*bad\.yaml: not valid YAML/],
      ['unknown config key', ['start', 'agent.py', '--config', 'unknown.yaml'], /config .*unknown\.yaml: unknown key 'budgte'/],
      ['wrong type in TOML', ['start', 'agent.py', '--config', 'wrongtype.toml'], /config .*wrongtype\.toml: port: expected number/],
      ['nested bad value', ['start', 'agent.py', '--config', 'nested.yaml'], /config .*nested\.yaml: restart\.max_restarts: must be 0 or more/],
      ['bad env value', ['start', 'agent.py'], /IRON_CAGE_PORT: "x" is not a whole number/, { IRON_CAGE_PORT: 'x' }],
      ['bad env enum', ['start', 'agent.py'], /IRON_CAGE_LOG_FORMAT: must be one of pretty, json/, { IRON_CAGE_LOG_FORMAT: 'xml' }],
      // An option given twice was an array no command expects (`--config a --config b`: a stack trace), or one of the two read.
      ['an option twice', ['start', 'agent.py', '--config', 'bad.yaml', '--config', 'nested.yaml'], /^iron-cage: --config: given more than once \(give it once\)\n/],
      ['an option twice, once with =', ['token', 'create', '--name', 'a', '--name=b'], /^iron-cage: --name: given more than once/],
      ['a switch and its no-', ['start', 'agent.py', '--exit', '--no-exit'], /^iron-cage: --exit: given more than once/],
      // yargs read any value but `true` as false: `--verbose=1` was quietly off.
      ['a switch with a value', ['start', 'agent.py', '--verbose=1'], /^iron-cage: --verbose: a switch takes no value, or =true or =false \(got "1"\)\n/],
      // Read as none (`--reveal` listed the findings instead) or as 0.
      ['a number option with no number', ['audit', 'pii', '--reveal'], /^iron-cage: --reveal: needs a number\n/],
      ['a number option with an empty value', ['audit', 'pii', '--after='], /^iron-cage: --after: needs a number\n/],
      // An option of another action was ignored: `token list --role admin` listed every token, as if it filtered them.
      // A stdio MCP server whose command is not there: refused before the state file is made, by `serve` as by `start`.
      ['a missing MCP command, serve', ['serve', '--port', '0', '--config', 'mcp-missing.yaml'], /^iron-cage: mcp\.servers\.files\.command: 'no-such-mcp-server-d41d8c' is not found on PATH\n/],
      ['a missing MCP command, start', ['start', 'agent.py', '--config', 'mcp-missing.yaml'], /^iron-cage: mcp\.servers\.files\.command: 'no-such-mcp-server-d41d8c' is not found on PATH\n/],
      ['an option of another action', ['token', 'list', '--role', 'admin'], /^iron-cage: --role: for token create only, not token list\n/],
      ['an option of other actions', ['secrets', 'list', '--limit=5'], /^iron-cage: --limit: for secrets audit only, not secrets list\n/],
      ['an option of another action of user', ['user', 'rm', 'bob', '--role', 'admin'], /^iron-cage: --role: for user add only, not user rm\n/],
    ];
    for (const [name, args, message, env] of cases) {
      it(name, async () => {
        const argv = [...args, '--db', join(dir, 'state.db')];
        const r = asProcess.has(name) ? run(argv, { cwd: dir, env }) : await cliInProcess(argv, { cwd: dir, env });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
        expect(r.stdout).not.toContain('Agent started');
        expect(existsSync(join(dir, 'state.db'))).toBe(false);
      });
    }
  });

  it('flags beat environment, which beats the config file', () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'iron-cage.yaml'), 'name: from-file\nlog_format: json\nport: 0\n');
      const r = run(['start', HELLO, '--exit', '--db', join(dir, 's.db'), '--name', 'from-flag'], {
        cwd: dir,
        env: { IRON_CAGE_NAME: 'from-env', HELLO_DELAY: '0' },
      });
      expect(r.code).toBe(0);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)); // log_format from the file
      for (const l of lines) expect(l).toMatchObject({ level: expect.any(String), time: expect.any(String), msg: expect.any(String) });
      const started = lines.find((l) => /^Agent started/.test(l.msg));
      expect(started).toMatchObject({ level: 'info', agentId: expect.stringMatching(/^he-[0-9a-f]{8}$/), type: 'agent.started' });
      expect(lines.filter((l) => l.type === 'agent.output').every((l) => l.agentId === started.agentId)).toBe(true);
      const db = new Database(join(dir, 's.db'), { readonly: true });
      expect(db.prepare('SELECT name FROM agents').get()).toEqual({ name: 'from-flag' });
      db.close();
      const r2 = run(['start', HELLO, '--exit', '--db', join(dir, 's2.db')], { cwd: dir, env: { IRON_CAGE_NAME: 'from-env', HELLO_DELAY: '0' } });
      expect(r2.code).toBe(0);
      const db2 = new Database(join(dir, 's2.db'), { readonly: true });
      expect(db2.prepare('SELECT name FROM agents').get()).toEqual({ name: 'from-env' });
      db2.close();
    } finally {
      cleanup();
    }
  });

  it('runs .js, .mjs and .cjs agents on its own Node, with no Python needed', () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'esm.mjs'), "import { argv } from 'node:process';\nconsole.log(`esm ${argv.slice(2).join(' ')}`);\n");
      writeFileSync(join(dir, 'common.cjs'), 'console.log(`cjs ${typeof require}`);\nprocess.exit(4);\n');
      writeFileSync(join(dir, 'plain.js'), "console.log(`js gateway ${process.env.OPENAI_BASE_URL?.endsWith('/v1')}`);\n");
      const esm = run(['start', 'esm.mjs', '--exit', '--python', 'python9.9-nope', '--port', '0', '--db', join(dir, 's.db'), '--', 'a', 'b'], { cwd: dir });
      expect(esm.code).toBe(0);
      expect(esm.stdout).toContain('esm a b');
      const cjs = run(['start', 'common.cjs', '--exit', '--restart', 'never', '--port', '0', '--db', join(dir, 's.db')], { cwd: dir });
      expect(cjs.code).toBe(4);
      expect(cjs.stdout).toContain('cjs function');
      const js = run(['start', 'plain.js', '--exit', '--port', '0', '--db', join(dir, 's.db')], { cwd: dir });
      expect(js.code).toBe(0);
      expect(js.stdout).toContain('js gateway true');
    } finally {
      cleanup();
    }
  });

  it('--exit returns the agent exit code', () => {
    const { dir, cleanup } = tempDir();
    try {
      const r = run(['start', join(ROOT, 'test/fixtures/agents/always_crash.py'), '--exit', '--restart', 'never', '--port', '0', '--db', join(dir, 's.db')]);
      expect(r.code).toBe(3);
      expect(r.stdout).toMatch(/Agent crashed \(exit 3\)/);
    } finally {
      cleanup();
    }
  });

  it.each(SLEEPERS)('SIGTERM to iron-cage: the $language agent gets SIGTERM, iron-cage exits 0, the database is consistent', async ({ script }) => {
    const { dir, cleanup } = tempDir();
    try {
      const marker = join(dir, 'signal.txt');
      const db = join(dir, 'state.db');
      const child = spawn(process.execPath, [CLI, 'start', script, marker, '--port', '0', '--db', db], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (out += c));
      await until(() => out.includes('sleeper ready'));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(readFileSync(marker, 'utf8')).toBe('SIGTERM');
      expect(out).toContain('sleeper got SIGTERM');
      // A Node agent sees its own arguments only; the bootstrap took its lifeline variable and
      // dropped Node's SIGUSR1 handler (the inspector).
      if (script.endsWith('.mjs')) expect(out).toContain(`sleeper argv ${JSON.stringify([marker])} lifeline consumed SIGUSR1 not caught`);
      const d = new Database(db, { readonly: true });
      expect(d.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(d.prepare('SELECT status, pid FROM agents').get()).toEqual({ status: 'stopped', pid: null });
      const types = d
        .prepare('SELECT type FROM events ORDER BY seq')
        .all()
        .map((r: any) => r.type);
      expect(types.slice(-2)).toEqual(['agent.exited', 'server.stopping']);
      expect(types).toContain('agent.stopping');
      expect(types.at(-1)).toBe('server.stopping');
      d.close();
    } finally {
      cleanup();
    }
  });

  it.each(SLEEPERS)('kill -9 of iron-cage takes the $language agent down with it (no orphan keeps running)', async ({ script }) => {
    const { dir, cleanup } = tempDir();
    try {
      const child = spawn(process.execPath, [CLI, 'start', script, '--port', '0', '--db', join(dir, 'state.db')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      await until(() => out.includes('sleeper ready'));
      const pid = Number(/Agent started \(pid (\d+)\)/.exec(out)![1]);
      expect(processRunning(pid)).toBe(true);
      child.kill('SIGKILL');
      await until(() => !processRunning(pid), 5000);
    } finally {
      cleanup();
    }
  });

  it('`dashboard` on a file no iron-cage serves is refused (exit 2) and makes none: a link for it would open nothing', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const r = await cliInProcess(['dashboard'], { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`dashboard: there is no iron-cage state at ${join(dir, 'iron_state.db')}: give the --db of the running iron-cage`);
      expect(existsSync(join(dir, 'iron_state.db'))).toBe(false);
    } finally {
      cleanup();
    }
  });

  it('a refused `token`, `user` or `secrets` command leaves no state it made: no new state file, key or folder', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const refusals = [
        ['token', 'create'],
        ['token', 'revoke', 'nope'],
        ['user', 'rm', 'nobody'],
        ['user', 'add', 'ann', '--role', 'viewer'],
        ['secrets', 'get'],
      ];
      for (const [n, args] of refusals.entries()) {
        const r = await cliInProcess([...args, '--db', join(dir, `new${n}/state.db`)], { cwd: dir, input: 'short' });
        expect({ args, code: r.code, stack: /\n\s+at /.test(r.stderr) }).toEqual({ args, code: 2, stack: false });
      }
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('`serve` starts a server with no agent and shows earlier runs', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = join(dir, 'state.db');
      // An earlier run recorded in the file (its own start is the other tests' subject).
      const earlier = await startTestRuntime({ dir, config: { db }, agent: { script: HELLO }, env: { HELLO_DELAY: '0' } });
      await earlier.rt.agentDone;
      await earlier.rt.shutdown('earlier run over');
      const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--db', db, '--log-format', 'json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      // A JSON log names the dashboard but carries no login: that takes `dashboard` on this file, as iron-cage was started.
      const url = await until(() => /dashboard (http:\/\/127\.0\.0\.1:\d+)\/ \(run `[^`]* dashboard --db /.exec(out)?.[1], 15_000, 10);
      expect(out).not.toContain('#login=');
      expect((await fetch(`${url}/api/health`)).status).toBe(200);
      // How fast it starts is the cold-start benchmark's to say (npm run bench -- coldstart), not a test's.
      const session = await dashboardSession(db, url);
      const agents = await (await fetch(`${url}/api/agents`, { headers: { authorization: `Bearer ${session}` } })).json();
      expect(agents).toHaveLength(1);
      expect(agents[0]).toMatchObject({ status: 'completed', name: 'hello_agent' });
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      cleanup();
    }
  });
});
