import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { z } from 'zod';
import { fileSchema } from '../../src/config/schema.js';
import { GATEWAY_ROUTES } from '../../src/gateway/index.js';
import { cliInProcess } from '../helpers/cli.js';
import { startTestPanel, type TestPanel } from '../helpers/panel.js';
import { nodesOf, parseTypeScript } from '../helpers/syntax.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { ROOT, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

// The documentation says what the code does: every relative link in README.md and docs/ leads
// to a file (and heading) that exists, the reference tables of docs/ list exactly what the
// code declares: the config file's keys (src/config/schema.ts), the event types
// (src/core/events.ts) and the routes the server answers (its own route table), and every flag
// a command line of README.md and docs/ gives iron-cage is one that command takes.

const PAGES = [
  'README.md',
  'ARCHITECTURE.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const read = (page: string): string => readFileSync(join(ROOT, page), 'utf8');
/** A page without its fenced code blocks (a link or a table row in an example is not one). */
const prose = (page: string): string => read(page).replace(/^```[\s\S]*?^```/gm, '');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(page: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of prose(page).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

describe('links in README.md and docs/', () => {
  const links = PAGES.flatMap((page) => [...prose(page).matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => ({ page, target: m[1]! })).filter((l) => !/^[a-z]+:/i.test(l.target)));

  it('finds the links to check', () => {
    expect(links.filter((l) => l.page === 'README.md').length).toBeGreaterThan(10);
  });

  it('each relative link leads to a file in the repository, and to a heading there when it names one', () => {
    const broken: string[] = [];
    for (const { page, target } of links) {
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const file = path === '' ? join(ROOT, page) : resolve(dirname(join(ROOT, page)), path);
      if (relative(ROOT, file).startsWith('..') || !existsSync(file)) {
        broken.push(`${page}: ${target} (no such file)`);
        continue;
      }
      if (anchor !== undefined && statSync(file).isFile() && file.endsWith('.md') && !anchorsOf(relative(ROOT, file)).has(anchor)) {
        broken.push(`${page}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});

/** Every key the config file accepts, dotted: `<name>` for a name the user picks, `[]` for each item of a list. */
function configKeys(schema: z.ZodType, path = ''): string[] {
  const def = (s: z.ZodType) => (s as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
  const unwrap = (s: z.ZodType): z.ZodType => {
    const d = def(s);
    if (d.type === 'optional' || d.type === 'nullable' || d.type === 'default') return unwrap(d.innerType as z.ZodType);
    // A pipe reads its input's keys, unless its input only reshapes a value (a preprocess): then its output's.
    if (d.type === 'pipe') return unwrap((def(d.in as z.ZodType).type === 'transform' ? d.out : d.in) as z.ZodType);
    return s;
  };
  const s = unwrap(schema);
  const d = def(s);
  if (d.type === 'object') return Object.entries(d.shape as Record<string, z.ZodType>).flatMap(([k, v]) => configKeys(v, path ? `${path}.${k}` : k));
  if (d.type === 'record' && def(unwrap(d.valueType as z.ZodType)).type === 'object') return configKeys(d.valueType as z.ZodType, `${path}.<name>`);
  if (d.type === 'array' && def(unwrap(d.element as z.ZodType)).type === 'object') return configKeys(d.element as z.ZodType, `${path}[]`);
  return [path];
}

/** The first column of a page's table rows under a heading, as written between backticks. */
function firstColumn(page: string, heading: string): string[] {
  const text = prose(page);
  const at = text.indexOf(`\n${heading}\n`);
  expect(at, `${page} has the heading ${heading}`).toBeGreaterThan(-1);
  const next = text.slice(at + heading.length + 2).search(/^## /m);
  const section = text.slice(at, next === -1 ? undefined : at + heading.length + 2 + next);
  return [...section.matchAll(/^\| ((?:`[^`]+`(?: · )?)+) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([^`]+)`/g)].map((k) => k[1]!));
}

describe('docs/configuration.md', () => {
  it("lists every key of the config file, and no other, in 'Every key'", () => {
    const keys = configKeys(fileSchema);
    expect(keys.length).toBeGreaterThan(50);
    expect(firstColumn('docs/configuration.md', '## Every key').sort()).toEqual([...keys].sort());
  });
});

describe('docs/events.md', () => {
  it('lists every event type of src/core/events.ts, and no other', () => {
    const file = join(ROOT, 'src/core/events.ts');
    const types: string[] = [];
    for (const n of nodesOf(parseTypeScript(readFileSync(file, 'utf8')))) {
      if (n.type === 'TSInterfaceDeclaration' && n.id.name === 'EventData')
        for (const m of n.body.body) if (m.type === 'TSPropertySignature' && m.key.type === 'StringLiteral') types.push(m.key.value);
    }
    expect(types.length).toBeGreaterThan(30);
    expect(firstColumn('docs/events.md', '## Types').sort()).toEqual(types.sort());
  });
});

describe('docs/api.md', () => {
  let t: TestRuntime;
  // The control panel answers its own routes (on a real PostgreSQL): named in api.md too.
  let pgServer: TestPostgres;
  let panel: TestPanel;
  beforeAll(async () => {
    [t, pgServer] = await Promise.all([startTestRuntime(), startPostgres()]);
    panel = await startTestPanel(pgServer.url);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([t?.stop(), panel?.close()]);
    await pgServer?.destroy();
  });

  /** A route with its parameters unnamed: `:id`, `<provider>` and `{id}` are all one parameter. */
  const shape = (route: string): string => route.replace(/:\w+|<\w+>|\{\w+\}/g, ':_');
  /** `METHOD /path` mentions; a query or `[...]` after the path is not part of it. */
  const mentions = (text: string): Set<string> => new Set([...text.matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/[^\s`?[]*)/g)].map((m) => shape(`${m[1]} ${m[2]}`)));

  it('names every REST route the server answers, and each gateway route', () => {
    const api = mentions(prose('docs/api.md'));
    const rest = t.rt.server.routes.filter((r) => r.surface === 'rest' && r.path.startsWith('/api/')).map((r) => shape(`${r.method} ${r.path}`));
    expect(rest.length).toBeGreaterThan(30);
    expect(rest.filter((r) => !api.has(r))).toEqual([]);
    expect(GATEWAY_ROUTES.filter((r) => !api.has(shape(r)))).toEqual([]);
  });

  it('names every REST route the control panel answers', () => {
    const api = mentions(prose('docs/api.md'));
    const rest = panel.panel.server.routes.filter((r) => r.surface === 'rest' && r.path.startsWith('/api/')).map((r) => shape(`${r.method} ${r.path}`));
    expect(rest.length).toBeGreaterThan(8);
    expect(rest.filter((r) => !api.has(r))).toEqual([]);
  });

  it('names no REST route the server does not answer, on any page', () => {
    const served = new Set([...t.rt.server.routes, ...panel.panel.server.routes].map((r) => shape(`${r.method} ${r.path}`)));
    const stale = PAGES.flatMap((page) => [...mentions(prose(page))].filter((m) => m.split(' ')[1]!.startsWith('/api/') && !served.has(m)).map((m) => `${page}: ${m}`));
    expect(stale).toEqual([]);
  });
});

describe('the command lines README.md and docs/ show', () => {
  /** The pages a user copies command lines from. */
  const USER_PAGES = PAGES.filter((p) => p !== 'ARCHITECTURE.md');
  type CommandLine = { page: string; command: string; flags: string[]; text: string };

  /** `--flag` words of a help text's Options section: what yargs (strict) accepts for that command. */
  function flagsOf(help: string): Set<string> {
    const at = help.search(/^Options:$/m);
    return new Set(at < 0 ? [] : [...help.slice(at).matchAll(/^\s+(?:-\w, )?(--[a-z0-9-]+)/gm)].map((m) => m[1]!));
  }

  /** Each command line of a page: its command (`panel runtime` for a panel's subcommand) and the flags it gives iron-cage (those after a lone `--` are the agent's). */
  function commandLines(page: string, markdown: string, commands: ReadonlySet<string>): CommandLine[] {
    const out: CommandLine[] = [];
    const add = (words: string[], text: string) => {
      const command = words[1] !== undefined && commands.has(`${words[0]} ${words[1]}`) ? `${words[0]} ${words[1]}` : words[0]!;
      if (!commands.has(command)) return;
      const end = words.indexOf('--');
      const flags = (end < 0 ? words : words.slice(0, end)).flatMap((w) => w.match(/^--[a-z][a-z0-9-]*/) ?? []);
      out.push({ page, command, flags, text: text.trim() });
    };
    // A shell line continued with a backslash is one line.
    const text = markdown.replace(/\\\n\s*/g, ' ');
    // `iron-cage <command> …` (also `npx iron-cage`, `bin/iron-cage.js`), up to the line's or the code span's end or a shell separator.
    for (const m of text.matchAll(/\biron-cage(?:\.js)? +([^\n`|;&#)]*)/g)) add(m[1]!.split(/\s+/).filter(Boolean), m[0]);
    // A container's arguments, `["panel", "--host", …]`: the image's entry point is iron-cage.
    for (const m of text.matchAll(/\[\s*"([a-z]+)"((?:\s*,\s*"[^"]*")*)\s*\]/g)) add([m[1]!, ...[...m[2]!.matchAll(/"([^"]*)"/g)].map((q) => q[1]!)], m[0]);
    return out;
  }

  /** Each flag of these lines its command does not take; `--no-x` is yargs' negation of the switch `--x`. */
  function untaken(lines: readonly CommandLine[], takes: ReadonlyMap<string, ReadonlySet<string>>): string[] {
    const taken = (command: string, flag: string) => takes.get(command)!.has(flag) || takes.get(command)!.has(flag.replace(/^--no-/, '--'));
    return lines.flatMap((l) => l.flags.filter((f) => !taken(l.command, f)).map((f) => `${l.page}: ${f} (iron-cage ${l.command} does not take it) in ${l.text}`));
  }

  it('read the commands, their flags and the lines that give them (the check itself)', () => {
    expect(flagsOf('iron-cage panel\n\nOptions:\n      --port  Port  [string]\n  -h, --help  Show help  [boolean]\n')).toEqual(new Set(['--port', '--help']));
    const md = [
      '```sh',
      'iron-cage panel --database postgres://db \\',
      '  --allowed-hosts lb:443',
      'npx iron-cage start agent.py --exit -- --leads 10',
      '```',
      'Then `iron-cage panel runtime add ann --user u1 --budget 5`, or `iron-cage demo --no-stay`; iron-cage serves it.',
      '          args: ["panel", "--port", "8443",',
      '                 "--drain-grace", "5s"]',
    ].join('\n');
    const commands = new Set(['panel', 'panel runtime', 'start', 'demo']);
    const lines = commandLines('x.md', md, commands);
    expect(lines.map((l) => [l.command, l.flags])).toEqual([
      ['panel', ['--database', '--allowed-hosts']],
      ['start', ['--exit']],
      ['panel runtime', ['--user', '--budget']],
      ['demo', ['--no-stay']],
      ['panel', ['--port', '--drain-grace']],
    ]);
    const takes = new Map(Object.entries({ panel: ['--database', '--port', '--drain-grace'], 'panel runtime': ['--user'], start: ['--exit'], demo: ['--stay'] }).map(([c, f]) => [c, new Set(f)]));
    expect(untaken(lines, takes).map((w) => w.split(' (')[0])).toEqual(['x.md: --allowed-hosts', 'x.md: --budget']);
  });

  it('give each command only flags it takes (its --help: what yargs accepts)', async () => {
    const top = await cliInProcess(['--help']);
    const commands = new Set([...top.stdout.matchAll(/^\s+iron-cage (\w+)/gm)].map((m) => m[1]!));
    const panel = await cliInProcess(['panel', '--help']);
    for (const m of panel.stdout.matchAll(/^\s+iron-cage panel (\w+)/gm)) commands.add(`panel ${m[1]}`);
    expect([...commands]).toEqual(expect.arrayContaining(['start', 'serve', 'panel', 'panel runtime', 'token', 'scan']));
    const takes = new Map<string, Set<string>>();
    for (const command of commands) takes.set(command, flagsOf((await cliInProcess([...command.split(' '), '--help'])).stdout));
    expect(takes.get('start')).toContain('--budget');

    const lines = USER_PAGES.flatMap((page) => commandLines(page, read(page), commands));
    expect(lines.filter((l) => l.flags.length > 0).length).toBeGreaterThan(50);
    expect(untaken(lines, takes)).toEqual([]);
  });
});
