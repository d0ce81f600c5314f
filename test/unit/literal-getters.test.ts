import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodesOf, parseTypeScript } from '../helpers/syntax.js';

// No object literal in src/ has its own getter or setter (`{ get x() { … } }`): V8 allocates a
// literal's accessor pair in the old generation, so the accessor's closure, and all it captures
// (a call's request, answer and response, a stream's text), outlives every scavenge until the
// next full GC. One such getter on every call promoted the whole call: 1.2 MB a scavenge against
// 0.37, JSON c=16 CPU ×1.1 (docs/benchmarks-history.md, fourth round). A class with the getter on its
// prototype, or a data property, costs nothing of the kind.

const SRC = resolve(import.meta.dirname, '../../src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** `file:line name` of every getter or setter declared in an object literal of `text` (a class's are ClassMethods). */
export function literalAccessors(file: string, text: string): string[] {
  const found: string[] = [];
  for (const node of nodesOf(parseTypeScript(text))) {
    if (node.type === 'ObjectMethod' && (node.kind === 'get' || node.kind === 'set')) {
      const name = text.slice(node.key.start ?? 0, node.key.end ?? 0);
      found.push(`${file}:${node.loc?.start.line} ${node.computed ? `[${name}]` : name}`);
    }
  }
  return found;
}

/**
 * Text an accessor's declaration needs: `get`/`set`, then a name and its `(` (`get x()`, `set x (v)`)
 * or a computed or quoted key (`get [k]()`, `get 'a b'()`). Only files with it are parsed (about
 * one in nine of src/: the parse was 5 s of CPU). What it misses, a comment between `get` and the
 * name, no formatter writes.
 */
const MAY_DECLARE_ACCESSOR = /\b(?:get|set)(?:\s+[\w$]+\s*\(|\s*[['"])/;

describe('object literals without accessors', () => {
  it('finds a literal getter or setter, and not a class one', () => {
    const text = 'class A { get a() { return 1; } }\nconst o = {\n  get b() { return 2; },\n  set c(v: number) {},\n  d: 1,\n};';
    expect(literalAccessors('x.ts', text)).toEqual(['x.ts:3 b', 'x.ts:4 c']);
    for (const one of [
      'const o = { get b() { return 2; } };',
      'const o = { set  c (v) {} };',
      'const o = { get [k]() { return 1; } };',
      "const o = { get 'a b'() { return 1; } };",
      'const o = { get\n  d() { return 1; } };',
    ]) {
      expect(MAY_DECLARE_ACCESSOR.test(one), one).toBe(true);
      expect(literalAccessors('x.ts', one), one).toHaveLength(1);
    }
  });

  it('src/ has none (their closures would outlive every scavenge)', () => {
    const files = tsFiles(SRC);
    expect(files.length).toBeGreaterThan(100);
    const found = files.flatMap((f) => {
      const text = readFileSync(f, 'utf8');
      return MAY_DECLARE_ACCESSOR.test(text) ? literalAccessors(relative(SRC, f), text) : [];
    });
    expect(found).toEqual([]);
  });
});
