import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './runtime.js';

// The coding agents' real CLIs for the tests that run them (Claude Code, Codex CLI), installed from npm on
// first use into a cache beside the project's packages, not as devDependencies: together they
// weigh hundreds of megabytes that every `npm ci` would pay. Each version is installed once and
// kept; a test file asks for the one it pins.

const run = promisify(execFile);
export const AGENTS_CACHE = join(ROOT, 'node_modules/.cache/agents');

/** The versions the tests run, one of each (their binaries come in per-platform optional packages, installed with them). */
export const CLAUDE_CODE = { name: '@anthropic-ai/claude-code', version: '2.1.332', bin: 'claude' } as const;
export const CODEX_CLI = { name: '@openai/codex', version: '0.169.0', bin: 'codex' } as const;

/**
 * The folder holding `name@version` installed (its `node_modules/<name>`), installed now if it
 * is not yet. Two workers asking at once install into folders of their own; the first to finish
 * is kept.
 *
 * @example const dir = await installedAgent('@openai/codex', '0.169.0'); // …/node_modules/.cache/agents/@openai+codex@0.169.0
 */
export async function installedAgent(name: string, version: string): Promise<string> {
  const dir = join(AGENTS_CACHE, `${name.replace('/', '+')}@${version}`);
  const marker = join(dir, 'node_modules', name, 'package.json');
  if (existsSync(marker)) return dir;
  mkdirSync(AGENTS_CACHE, { recursive: true });
  const tmp = `${dir}.${process.pid}.${Date.now()}`;
  try {
    await run('npm', ['install', '--prefix', tmp, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', `${name}@${version}`], { timeout: 600_000 });
    if (!existsSync(marker)) renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (!existsSync(marker)) throw new Error(`npm installed ${name}@${version} but ${marker} is not there`);
  return dir;
}
