import type { Options } from 'yargs';
import { ConfigError } from '../core/errors.js';
import { choicesOf, flagOf, OPTIONS, type Command, type OptionSpec } from '../config/index.js';

/**
 * A command's shared options for yargs, from the one declaration (config/options.ts). Every
 * value is read as text or a switch and judged by the config layers, so `--port abc` gets the
 * message `IRON_CAGE_PORT=abc` does; help lists the values a key takes, as yargs would.
 *
 * @example yargs.command('serve', '…', (y) => y.options(optionsFor('serve')))
 */
export function optionsFor(command: Command): Record<string, Options> {
  const out: Record<string, Options> = {};
  for (const [name, o] of Object.entries(OPTIONS) as Array<[string, OptionSpec]>) {
    const own = o.commands[command];
    if (own === undefined) continue;
    const choices = o.key === undefined ? undefined : choicesOf(o.key);
    const describe = typeof own === 'string' ? own : o.describe;
    out[flagOf(name).slice(2)] = {
      type: o.kind === 'bool' ? 'boolean' : 'string',
      description: choices ? `${describe} [choices: ${choices.map((c) => `"${c}"`).join(', ')}]` : describe,
    };
  }
  return out;
}

/** How the sources of a setting rank, said in help. */
export const PRECEDENCE = 'Precedence: flags > IRON_CAGE_* environment > config file > defaults.';

/**
 * The variables a command's options can also come from, for its help.
 * @example environmentHelp('serve') // 'Precedence: flags > IRON_CAGE_* environment > config file > defaults. The variables: IRON_CAGE_PORT (--port), …'
 */
export function environmentHelp(command: Command): string {
  const vars = (Object.entries(OPTIONS) as Array<[string, OptionSpec]>).filter(([, o]) => o.env !== undefined && o.commands[command] === true).map(([name, o]) => `${o.env} (${flagOf(name)})`);
  return `${PRECEDENCE} The variables: ${vars.join(', ')}.`;
}

/**
 * A whole-number flag of a command's own (`audit --limit`, `secrets audit --limit`): refused in
 * one line unless it is a whole number from `min` to `max` (yargs reads `abc`, `1.5` or `1e400` as
 * numbers that are none).
 *
 * @example wholeFlag('limit', a.limit, 1, 1000)
 */
export function wholeFlag(flag: string, v: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (v === undefined) return;
  if (!Number.isInteger(v) || v < min) throw new ConfigError(`--${flag}: must be a whole number of at least ${min}, not ${String(v)}`);
  if (v > max) throw new ConfigError(`--${flag}: at most ${max}`);
}
