import { existsSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';

// The commands the product prints (how to get a new login link, how to look at a demo's run
// again) are written as this process was started, so that each works as printed: `npx
// iron-cage` in a clone (where only npx finds it), `iron-cage` where it is installed, `node
// <path>` for a bundle started by hand.

/**
 * A word as a POSIX shell reads it back: as is when it holds nothing the shell treats specially,
 * else single-quoted.
 * @example shellWord('/tmp/a b.db') // "'/tmp/a b.db'"
 */
export function shellWord(s: string): string {
  return /^[\w./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const OWN_SCRIPT = /(?:^|[\\/])(?:bin[\\/]iron-cage\.js|dist[\\/]cli\.js)$/;

/**
 * How a user starts this iron-cage again, from where they started it: `npx iron-cage` when this
 * process came through npx, `iron-cage` when through the installed command, else `node <the
 * script>` (relative to the working directory when under it).
 * @example selfCommand({ npm_command: 'exec' }, ['node', '/r/bin/iron-cage.js']) // 'npx iron-cage'
 */
export function selfCommand(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv, cwd = process.cwd()): string {
  if (env.npm_command === 'exec') return 'npx iron-cage';
  // Our own scripts only (bin/iron-cage.js, dist/cli.js): iron-cage run inside another program
  // (a test, an embedding) is told of as the installed command.
  const script = argv[1];
  if (script === undefined || !OWN_SCRIPT.test(script) || !existsSync(script)) return 'iron-cage';
  const rel = relative(cwd, script);
  return `node ${shellWord(rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : script)}`;
}

/**
 * A command for the user to run, as this process was started (`selfCommand`), its flags in order,
 * those with no value left out.
 * @example printedCommand('dashboard', { '--db': '/srv/iron_state.db', '--port': undefined }) // 'npx iron-cage dashboard --db /srv/iron_state.db'
 */
export function printedCommand(sub: string, flags: Readonly<Record<string, string | undefined>> = {}, self = selfCommand()): string {
  let out = `${self} ${sub}`;
  for (const [flag, value] of Object.entries(flags)) if (value !== undefined) out += ` ${flag} ${shellWord(value)}`;
  return out;
}
