import { readFileSync } from 'node:fs';
import { runMain } from 'node:module';
import { resolve } from 'node:path';
import { Script } from 'node:vm';

// The single executable as Node, for a Node agent iron-cage starts from it (core/executable.ts
// `nodeCommand`): the command lines iron-cage itself gives Node, `--import <url> <script> [args…]`
// (supervisor/bootstrap.ts) and `--check <script>` (runtime/checks.ts), run as Node runs them.
// Anything else is refused: this is not a Node for other uses.

/** Runs `argv` (process.argv after the executable) as Node would; `load` imports a URL (a SEA script cannot). */
export async function runAsNode(argv: string[], load: (url: string) => Promise<unknown>): Promise<void> {
  const imports: string[] = [];
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    if (argv[i] === '--import' && i + 1 < argv.length) imports.push(argv[++i]!);
    else if (argv[i] === '--check' && i + 1 === argv.length - 1) return check(argv[i + 1]!);
    else throw new Error(`iron-cage's executable runs a Node script as \`--import <url> <script>\` or \`--check <script>\`, not ${argv[i]}`);
  }
  const script = argv[i];
  if (script === undefined) throw new Error("iron-cage's executable was asked to run Node without a script");
  process.argv = [process.execPath, resolve(script), ...argv.slice(i + 1)];
  for (const url of imports) await load(url);
  // As `node script` runs it: a CommonJS script as the main module (`require.main === module`),
  // an ES module through the ES loader, each as its extension and package.json say.
  runMain();
}

/**
 * `node --check` for a CommonJS script: compiled, not run; a syntax error printed as Node prints
 * it and exit code 1. An ES module passes (compiling one without running it needs a flag this
 * Node was not started with): its own start says what is wrong with it.
 */
function check(script: string): void {
  const path = resolve(script);
  const source = readFileSync(path, 'utf8');
  if (path.endsWith('.mjs') || /^\s*(import|export)\b/m.test(source)) return;
  try {
    new Script(`(function (exports, require, module, __filename, __dirname) {${source.replace(/^#!.*/, '')}\n})`, { filename: path });
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    const line = /:(\d+)$/.exec(e.stack?.split('\n')[0] ?? '')?.[1];
    process.stderr.write(`${path}${line ? `:${line}` : ''}\n\nSyntaxError: ${e.message}\n`);
    process.exitCode = 1;
  }
}
