import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { isSea } from 'node:sea';

// Whether this process is the single executable (src/exe, scripts/exe.mjs), and what that changes
// for the processes it starts: its `process.execPath` is the executable, which runs iron-cage
// unless told to be Node (src/exe/main.ts reads AS_NODE), and its files are in the folder it
// unpacked itself into rather than beside a Node install.

/** Set by iron-cage on a Node agent it starts from the executable: the executable then runs the script as Node would. */
export const AS_NODE = 'IRON_CAGE_AS_NODE';

/** Set by the executable for its own process: the folder it unpacked itself into. */
export const UNPACKED = 'IRON_CAGE_UNPACKED';

const sea = isSea();

/** The folder the running single executable unpacked itself into; null when iron-cage runs on an installed Node. */
export function executableFolder(): string | null {
  return sea ? (process.env[UNPACKED] ?? null) : null;
}

/**
 * How to run a Node script on the Node that runs iron-cage: `node` itself, or the executable told to be Node.
 *
 * @example spawn(nodeCommand().command, ['--check', 'agent.mjs'], { env: { ...process.env, ...nodeCommand().env } })
 */
export function nodeCommand(): { command: string; env: Record<string, string> } {
  return { command: process.execPath, env: sea ? { [AS_NODE]: '1' } : {} };
}

/**
 * The folders tried in order for iron-cage's cache (the single executable unpacks itself there, a
 * coding agent's configuration home for a run is made there): IRON_CAGE_CACHE_DIR alone when it
 * is set, else $XDG_CACHE_HOME/iron-cage, ~/.cache/iron-cage, then one of this user's own in the
 * temp folder.
 *
 * @example cacheRoots({ HOME: '/home/ann' }) // ['/home/ann/.cache/iron-cage', '/tmp/iron-cage-1000']
 */
export function cacheRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.IRON_CAGE_CACHE_DIR) return [resolve(env.IRON_CAGE_CACHE_DIR)];
  const roots: string[] = [];
  if (env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME)) roots.push(join(env.XDG_CACHE_HOME, 'iron-cage'));
  if (env.HOME && isAbsolute(env.HOME)) roots.push(join(env.HOME, '.cache', 'iron-cage'));
  roots.push(join(tmpdir(), `iron-cage-${process.getuid?.() ?? 'user'}`));
  return [...new Set(roots)];
}
