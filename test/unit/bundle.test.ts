import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { expectEqual } from '../helpers/cheap-expect.js';
import { CLI } from '../helpers/cli.js';

// What every start of iron-cage loads is what the built bundle imports at its top: each package
// there is heap, source text and compiled code for the life of the process (an idle `serve`'s RSS
// is a benchmark goal, docs/benchmarks-history.md § Memory). Packages a run may never need are required
// on first use (core/on-first-use.ts) or bundled, where a CommonJS package is evaluated only
// when first required.

const bundle = readFileSync(CLI, 'utf8');
// A statement at the bundle's top level: `import x from"p";`, `import{a as b}from"p";`, `import"p";`.
const IMPORT = /(?:^|[;}\n])\s*import\s*(?:(?:[\w$]+\s*,?\s*)?(?:\{[^}]*\}|\*\s*as\s+[\w$]+)?\s*from\s*)?["']([^"']+)["']/g;
// What a start loads: cli.js and the chunks it imports (scripts/build.mjs splits what the code
// imports on first use into chunks beside it), followed through every static import.
const loaded = new Set<string>();
const staticImports = new Set<string>();
(function follow(file: string) {
  if (loaded.has(file)) return;
  loaded.add(file);
  for (const m of readFileSync(join(dirname(CLI), file), 'utf8').matchAll(IMPORT)) {
    if (m[1]!.startsWith('./')) follow(m[1]!.slice(2));
    else staticImports.add(m[1]!);
  }
})('cli.js');

describe('the CLI bundle', () => {
  it('imports at start only what every run needs', () => {
    const packages = [...staticImports].filter((p) => !p.startsWith('node:') && !builtinModules.includes(p)).sort();
    // Every other package is in the bundle, and each command's code is imported when it runs
    // (src/cli/program.ts): not even SQLite loads before a command that opens a state file.
    expect(packages).toEqual([]);
    // What every start compiles: the command line's parser, its options and the config they read (0.85 MB), not the runtime (3.5 MB in all).
    const bytes = [...loaded].reduce((sum, f) => sum + readFileSync(join(dirname(CLI), f)).length, 0);
    expect(bytes).toBeLessThan(1_000_000);
    const text = [...loaded].map((f) => readFileSync(join(dirname(CLI), f), 'utf8')).join('\n');
    // Loaded when first used: a provider's HTTP client, a YAML file, the panel's PostgreSQL driver, MCP's SDK.
    for (const late of ['undici', 'yaml', 'pg']) expect(staticImports.has(late)).toBe(false);
    expect(text).not.toContain('pg-connection-string');
    expect(text).not.toContain('DEFAULT_INHERITED_ENV_VARS');
  });

  it('holds only the parts of zod it uses (zod imported as a namespace, no drizzle-zod): not its 40 locales', () => {
    // The German locale's message for a bad input: any locale in the bundle means all of them are.
    expect(bundle).not.toContain('Eingabe');
    expect(bundle).not.toMatch(/drizzle-zod/);
  });

  it("builds string-width's Unicode tables only when a width is asked for (a help text), not at every start", () => {
    // Each copy of the package (yargs's and its help layout's) is a module evaluated on first
    // require (esbuild's __esm), behind the stand-in scripts/build.mjs puts where it is imported.
    const copies = [...bundle.matchAll(/__esm\(\{"(node_modules\/(?:[\w-]+\/node_modules\/)?string-width\/index\.js)"/g)].map((m) => m[1]);
    expect(copies.length).toBeGreaterThanOrEqual(2);
    expect(bundle).not.toMatch(/var [\w$]+=new Intl\.Segmenter(?!\w)/);
    // and the stand-ins name the module from the clone's root: no build's own path is shipped
    expect(readFileSync(`${CLI}.map`, 'utf8')).not.toContain(dirname(dirname(CLI)));
  });
  it('has each BPE table beside it as JSON, the same ranks as the package module (src/domain/budget/tokens.ts reads them there)', () => {
    const require = createRequire(import.meta.url);
    for (const name of ['o200k_base', 'cl100k_base']) {
      const json = JSON.parse(readFileSync(join(dirname(CLI), 'bpe', `${name}.json`), 'utf8'));
      expectEqual(json, require(`gpt-tokenizer/cjs/bpeRanks/${name}`).default);
    }
  });
});
