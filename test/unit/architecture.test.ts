import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

// The layout rules of ARCHITECTURE.md, checked on the source itself: no import cycle between
// files or between folders, every folder in its layer and importing only its own layer or
// below, another folder reached only through its index.ts, and the domain (pure logic) free of
// I/O. The dashboard (web/) likewise: no import cycle, and of src/ only types and pure code.

const SRC = resolve(import.meta.dirname, '../../src');
const WEB = resolve(import.meta.dirname, '../../web');
const REPO = resolve(import.meta.dirname, '../..');

/**
 * Every folder of src/ (a domain subfolder counts as one) in its layer, lowest first. A file
 * imports only from its own layer or below; a new folder fails the test until it is placed here.
 */
export const LAYERS: ReadonlyArray<{ name: string; folders: readonly string[] }> = [
  { name: 'core', folders: ['core'] },
  { name: 'domain', folders: ['domain/budget', 'domain/pii', 'domain/reliability', 'domain/secrets', 'domain/watch', 'domain/policy', 'domain/outcomes', 'domain/injection'] },
  { name: 'infrastructure', folders: ['config', 'state', 'alerts'] },
  { name: 'server', folders: ['server'] },
  {
    name: 'features',
    folders: ['auth', 'budget', 'gateway', 'pii', 'reliability', 'secrets', 'tools', 'supervisor', 'panel', 'report', 'observability', 'watch', 'sandbox', 'mcp', 'agents', 'approvals', 'injection'],
  },
  { name: 'runtime', folders: ['runtime'] },
  { name: 'commands', folders: ['demo', 'cli', 'exe'] },
];

/** Node built-ins the domain may use: computation only (hashing, sealing; a require for a JSON price table). */
const DOMAIN_BUILTINS = new Set(['node:crypto', 'node:module']);
/** Packages the domain may use: pure libraries (no network, no files, no database). */
const DOMAIN_PACKAGES = ['@node-rs/argon2', '@pydantic/genai-prices', 'gpt-tokenizer', 'libphonenumber-js'];

/** Module specifiers of `import … from`, `export … from`, `import '…'` and `import('…')`. */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  const statement = /^[ \t]*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]|^[ \t]*import\s*['"]([^'"]+)['"]/gm;
  for (const m of text.matchAll(statement)) out.push((m[1] ?? m[2])!);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** The TypeScript files under `dir` (`.tsx` too where asked: the dashboard's), its packages aside. */
function tsFiles(dir: string, tsx = false): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name === 'node_modules') return [];
    return statSync(p).isDirectory() ? tsFiles(p, tsx) : p.endsWith('.ts') || (tsx && p.endsWith('.tsx')) ? [p] : [];
  });
}

/** The file a relative specifier names (`./x.js` is `x.ts` or `x.tsx`), or null for a package. */
function target(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const p = resolve(dirname(from), spec);
  const stem = p.replace(/\.js$/, '');
  for (const candidate of [`${stem}.ts`, `${stem}.tsx`, `${p}.ts`, join(p, 'index.ts')]) if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  return null;
}

/** Every cycle found by a depth-first walk, each as the chain of nodes that closes it. */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const cycles: string[][] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

/** Each file under `root` with the files it imports, relative to `root` (a file outside it starts with `..`). */
function sourceGraph(root = SRC, tsx = false): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(root, tsx)) {
    const deps = specifiers(readFileSync(file, 'utf8'))
      .map((s) => target(file, s))
      .filter((t): t is string => t !== null);
    graph.set(
      relative(root, file),
      deps.map((d) => relative(root, d)),
    );
  }
  return graph;
}

/** The folder a src/ file belongs to: its first segment, or `domain/<name>` for the domain. */
export const folderOf = (file: string) => {
  const parts = file.split(sep);
  return parts[0] === 'domain' ? `domain/${parts[1]}` : parts[0]!;
};
const layerOf = (folder: string) => LAYERS.findIndex((l) => l.folders.includes(folder));

describe('the checks themselves', () => {
  it('read every kind of import, multi-line ones included, and nothing in plain code', () => {
    const text = [
      "import { a } from './a.js';",
      "import type {\n  B,\n  C,\n} from '../b/index.js';",
      "export { d } from './d.js';",
      "export * from './e.js';",
      "import './side-effect.js';",
      "type X = import('./f.js').F;",
      "import { z } from 'zod';",
      "export const from = 'nothing';",
      'const s = \'import x from "./not-code.js"\';',
    ].join('\n');
    expect(specifiers(text)).toEqual(['./a.js', '../b/index.js', './d.js', './e.js', './side-effect.js', 'zod', './f.js']);
  });

  it('find a cycle of any length and stay quiet on a tree', () => {
    const g = (edges: Record<string, string[]>) => new Map(Object.entries(edges));
    expect(findCycles(g({ a: ['b'], b: ['c'], c: ['a'], d: ['a'] }))).toEqual([['a', 'b', 'c', 'a']]);
    expect(findCycles(g({ a: ['a'] }))).toEqual([['a', 'a']]);
    expect(findCycles(g({ a: ['b', 'c'], b: ['c'], c: [] }))).toEqual([]);
  });
});

describe('src/ layout', () => {
  const graph = sourceGraph();
  const folders = [...new Set([...graph.keys()].map(folderOf))].filter((f) => f.includes('.') === false);

  it('reads the real source', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get(join('runtime', 'runtime.ts'))).toContain(join('server', 'index.ts'));
  });

  it('has no import cycle between files', () => {
    expect(findCycles(graph).map((c) => c.join(' → '))).toEqual([]);
  });

  it('places every folder in a layer', () => {
    expect(folders.filter((f) => layerOf(f) < 0)).toEqual([]);
  });

  it('imports only from the same layer or below', () => {
    const breaches: string[] = [];
    for (const [file, deps] of graph) {
      const own = layerOf(folderOf(file));
      for (const dep of deps) if (layerOf(folderOf(dep)) > own) breaches.push(`${file} (${LAYERS[own]?.name}) imports ${dep} (${LAYERS[layerOf(folderOf(dep))]?.name})`);
    }
    expect(breaches).toEqual([]);
  });

  it('has no cycle between folders', () => {
    const between = new Map<string, string[]>();
    for (const [file, deps] of graph) {
      const from = folderOf(file);
      const to = new Set(deps.map(folderOf).filter((f) => f !== from));
      between.set(from, [...new Set([...(between.get(from) ?? []), ...to])]);
    }
    expect(findCycles(between).map((c) => c.join(' → '))).toEqual([]);
  });

  it("reaches another folder only through its index.ts (core's modules directly)", () => {
    const breaches: string[] = [];
    for (const [file, deps] of graph) {
      for (const dep of deps) {
        const folder = folderOf(dep);
        if (folder === folderOf(file) || folder === 'core') continue;
        const index = folder.startsWith('domain/') ? join('domain', folder.slice(7), 'index.ts') : join(folder, 'index.ts');
        if (dep !== index) breaches.push(`${file} imports ${dep}`);
      }
    }
    expect(breaches).toEqual([]);
  });

  it("keeps each process's state apart: state/runtime (SQLite) and state/panel (PostgreSQL) never import each other, and what both share imports neither", () => {
    // src/state/ is the state of two processes: the runtime's file and the control panel's
    // PostgreSQL. What both share sits at its top (the one schema, the telemetry contract).
    const sideOf = (file: string) => {
      const parts = file.split(sep);
      return parts.length === 2 ? (parts[1] === 'index.ts' ? 'index' : 'shared') : parts[1]!;
    };
    const state = [...graph.keys()].filter((f) => folderOf(f) === 'state');
    expect(new Set(state.map(sideOf))).toEqual(new Set(['index', 'shared', 'runtime', 'panel']));
    const breaches: string[] = [];
    for (const file of state) {
      const side = sideOf(file);
      if (side === 'index') continue;
      for (const dep of graph.get(file)!) {
        if (folderOf(dep) !== 'state') continue;
        const to = sideOf(dep);
        if (to !== 'shared' && to !== side) breaches.push(`${relative('state', file)} → ${relative('state', dep)}`);
      }
    }
    expect(breaches).toEqual([]);
  });

  it('keeps provider formats out of the budget: a request is read by its wire (gateway/wire), the budget counts what it reads', () => {
    // Fields of the OpenAI and Anthropic requests and usage blocks; in code, comments aside.
    const FIELDS =
      /\b(max_tokens|max_completion_tokens|max_output_tokens|best_of|budget_tokens|stream_options|tool_calls|tool_call_id|tool_use|tool_result|function_call(_output)?|image_url|input_image|input_text|output_text|input_schema|response_format|json_schema|prompt_tokens|completion_tokens|total_tokens|input_tokens|output_tokens|cached_tokens|cache_read_input_tokens|cache_creation_input_tokens)\b/g;
    const breaches: string[] = [];
    for (const file of tsFiles(join(SRC, 'domain', 'budget'))) {
      const code = readFileSync(file, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/(^|[^:])\/\/.*$/gm, '$1');
      for (const m of code.matchAll(FIELDS)) breaches.push(`${relative(SRC, file)} reads ${m[0]}`);
    }
    expect(breaches).toEqual([]);
  });

  it('names no wire and no endpoint outside gateway/wire/: a new wire needs no branch in the handler, the meter or delivery', () => {
    // The metered endpoints' names as string literals, and a wire told apart by its name; in code,
    // comments aside. The providers (gateway/providers/) are the upstreams: the simulated one
    // plays every wire's server and is keyed by them.
    const NAMED = /'(chat|completions|embeddings|messages|responses)'|\bwire\??\.name\s*[!=]==?\s*'|'[^']*'\s*[!=]==?\s*\w*\.?wire\??\.name\b/g;
    const breaches: string[] = [];
    const gateway = join(SRC, 'gateway');
    for (const file of tsFiles(gateway)) {
      const rel = relative(gateway, file);
      if (rel.startsWith(`wire${sep}`) || rel.startsWith(`providers${sep}`)) continue;
      const code = readFileSync(file, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/(^|[^:])\/\/.*$/gm, '$1');
      for (const m of code.matchAll(NAMED)) breaches.push(`gateway/${rel} names ${m[0]}`);
      // Nor any route told apart by its name, but in the route table itself.
      if (rel !== 'endpoints.ts') for (const m of code.matchAll(/\bendpoint\s*[!=]==?\s*'[^']*'/g)) breaches.push(`gateway/${rel} compares ${m[0]}`);
    }
    expect(breaches).toEqual([]);
  });

  it("changes a reservation only on a call's money path: the meter (an LLM call) and the fixed charges (an MCP tool call's cost)", () => {
    // BudgetTracker's methods that take, change, settle or give back a reservation, called on a
    // tracker outside the budget's domain; in code, comments aside.
    const PATHS = [join('gateway', 'meter.ts'), join('budget', 'charges.ts')];
    const CHANGES = /\btracker\??\.(reserve|acquire|replace|shrink|settle|charge|uncharge|release|releaseAll)\(/g;
    const breaches: string[] = [];
    for (const file of tsFiles(SRC)) {
      const rel = relative(SRC, file);
      if (rel.startsWith(join('domain', 'budget') + sep) || PATHS.includes(rel)) continue;
      const code = readFileSync(file, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/(^|[^:])\/\/.*$/gm, '$1');
      for (const m of code.matchAll(CHANGES)) breaches.push(`${rel} calls ${m[0]}`);
    }
    expect(breaches).toEqual([]);
    for (const path of PATHS) expect([...readFileSync(join(SRC, path), 'utf8').matchAll(CHANGES)].length, path).toBeGreaterThan(0);
  });

  it('names every file one way: kebab-case, and `<feature>.<role>.ts` for a service, routes or a store', () => {
    const badly = [...graph.keys()].filter((f) => !/^[a-z][a-z0-9]*(-[a-z0-9]+)*(\.(service|routes|store))?\.ts$/.test(f.split(sep).at(-1)!));
    expect(badly).toEqual([]);
  });

  it('keeps the domain pure: only core and the domain, computing built-ins and pure packages', () => {
    const breaches: string[] = [];
    for (const file of tsFiles(join(SRC, 'domain'))) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        if (spec.startsWith('.')) continue;
        if (spec.startsWith('node:') ? DOMAIN_BUILTINS.has(spec) : DOMAIN_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`))) continue;
        breaches.push(`${relative(SRC, file)} imports ${spec}`);
      }
    }
    expect(breaches).toEqual([]);
  });

  it('keeps the single executable’s first script to Node itself: it runs before anything is unpacked (src/exe)', () => {
    const breaches: string[] = [];
    for (const file of tsFiles(join(SRC, 'exe'))) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        // Its own folder, and the names it shares with the code it unpacks (core/executable.ts, itself Node's only).
        if (spec.startsWith('node:') || (spec.startsWith('./') && !spec.includes('/', 2)) || spec === '../core/executable.js') continue;
        breaches.push(`${relative(SRC, file)} imports ${spec}`);
      }
    }
    expect(breaches).toEqual([]);
    expect(specifiers(readFileSync(join(SRC, 'core/executable.ts'), 'utf8')).every((s) => s.startsWith('node:'))).toBe(true);
  });
});

describe('web/ (the dashboard)', () => {
  const graph = sourceGraph(WEB, true);
  const inSrc = (dep: string) => relative(SRC, join(WEB, dep));

  it('reads the real dashboard', () => {
    expect(graph.size).toBeGreaterThan(30);
    expect(graph.get('app.tsx')).toContain('store.ts');
  });

  it('has no import cycle between files', () => {
    const own = new Map([...graph].map(([file, deps]) => [file, deps.filter((d) => !d.startsWith('..'))]));
    expect(findCycles(own).map((c) => c.join(' → '))).toEqual([]);
  });

  it("imports of src/ only the server's types (in web/types.ts, type-only) and pure code: core's money and duration, and the domain", () => {
    const PURE_CORE = [join('core', 'money.ts'), join('core', 'duration.ts')];
    const breaches: string[] = [];
    for (const [file, deps] of graph) {
      if (file === 'types.ts') continue;
      for (const dep of deps.filter((d) => d.startsWith('..')).map(inSrc)) {
        if (!PURE_CORE.includes(dep) && !dep.startsWith(`domain${sep}`)) breaches.push(`web/${file} imports src/${dep}`);
      }
    }
    // web/types.ts: every statement that names src/ brings types only (erased from the bundle).
    const types = readFileSync(join(WEB, 'types.ts'), 'utf8');
    for (const m of types.matchAll(/^[ \t]*(import|export)\b([^;'"]*?)\bfrom\s*['"](\.\.\/src\/[^'"]+)['"]/gm)) {
      if (!/^\s*type\b/.test(m[2]!)) breaches.push(`web/types.ts ${m[1]}s values from ${m[3]}`);
    }
    expect(breaches).toEqual([]);
  });
});

describe('comments', () => {
  it('cite no issue number: a comment says why in its own words, where the tracker may be gone', () => {
    const code = [...tsFiles(SRC, true), ...tsFiles(WEB, true), ...tsFiles(join(REPO, 'scripts')), ...tsFiles(join(REPO, 'test')), ...readdirSync(join(REPO, 'bin')).map((f) => join(REPO, 'bin', f))];
    const cites = code.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        // The citation first: a line without one (the detector's weights, a base64 line full of `//`) is read once, not from every `//` in it.
        .flatMap((line, i) => (/\bissues? #?\d+/i.test(line) && /(\/\/|\/\*|^\s*\*).*\bissues? #?\d+/i.test(line) ? [`${relative(REPO, f)}:${i + 1}`] : [])),
    );
    expect(code.length).toBeGreaterThan(500);
    expect(cites).toEqual([]);
  });
});
