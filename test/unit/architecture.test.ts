import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

// The layout rules of DESIGN.md, checked on the source itself: no import cycles anywhere in
// src/, and the domain folders (pure logic) never reach up into I/O or wiring.

const SRC = resolve(import.meta.dirname, '../../src');
const DOMAIN = ['budget', 'safety', 'reliability', 'secrets'];
const ABOVE_DOMAIN = ['server', 'gateway', 'state', 'tools', 'runtime', 'supervisor', 'cli', 'protection'];

/** Module specifiers of `import … from`, `export … from`, `import '…'` and `import('…')`. */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  const statement = /^[ \t]*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]|^[ \t]*import\s*['"]([^'"]+)['"]/gm;
  for (const m of text.matchAll(statement)) out.push((m[1] ?? m[2])!);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The src/ file a relative specifier names (`./x.js` is `x.ts`), or null for a package. */
function target(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const p = resolve(dirname(from), spec);
  for (const candidate of [p.replace(/\.js$/, '.ts'), `${p}.ts`, join(p, 'index.ts')]) if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
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

function sourceGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(SRC)) {
    const deps = specifiers(readFileSync(file, 'utf8'))
      .map((s) => target(file, s))
      .filter((t): t is string => t !== null);
    graph.set(
      relative(SRC, file),
      deps.map((d) => relative(SRC, d)),
    );
  }
  return graph;
}

const folderOf = (file: string) => file.split(sep)[0]!;

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

  it('reads the real source', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get(join('runtime', 'runtime.ts'))).toContain(join('runtime', 'services.ts'));
  });

  it('has no import cycle', () => {
    expect(findCycles(graph).map((c) => c.join(' → '))).toEqual([]);
  });

  it('keeps the domain folders (budget, safety, reliability, secrets) below server, gateway, state, tools and runtime', () => {
    const breaches: string[] = [];
    for (const [file, deps] of graph) {
      if (!DOMAIN.includes(folderOf(file))) continue;
      for (const dep of deps) if (ABOVE_DOMAIN.includes(folderOf(dep))) breaches.push(`${file} imports ${dep}`);
    }
    expect(breaches).toEqual([]);
  });
});
