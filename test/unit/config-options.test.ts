import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { choicesOf, flagOf, loadConfig, OPTIONS, type Config, type FlagValues, type OptionSpec } from '../../src/config/index.js';
import { ROOT, tempDir } from '../helpers/runtime.js';

// Every option that sets config, from its one declaration: the same value set by the config
// file, its IRON_CAGE_* variable or its flag lands in the same place; flags beat variables,
// which beat the file, which beats the defaults; and a bad value gets the same message from a
// flag and from its variable, each naming itself.

const OPTIONS_WITH_KEYS = (Object.entries(OPTIONS) as Array<[keyof typeof OPTIONS, OptionSpec]>).filter((e): e is [keyof typeof OPTIONS, OptionSpec & { key: string }] => e[1].key !== undefined);

/** Values whose form the schema checks beyond their kind; a new such option fails below until it is named here. */
const FORMATTED: Record<string, [string, string]> = {
  budget: ['25', '$40.50'],
  environment: ['staging', 'prod-eu'],
  'panel.url': ['https://panel.example:8443', 'http://127.0.0.1:9000/ic'],
  lease_ttl: ['20s', '1500ms'],
  lease_reclaim_after: ['45s', '2m'],
  drain_grace: ['1s', '10s'],
  drain_timeout: ['5s', '1m'],
};

/** Two different valid values of an option, as text (what a variable holds). */
function values(name: string, o: OptionSpec & { key: string }): [string, string] {
  if (FORMATTED[o.key]) return FORMATTED[o.key]!;
  const choices = choicesOf(o.key);
  if (choices) return [choices.at(-1)!, choices.at(-2)!];
  if (o.kind === 'int') return ['9001', '9002'];
  if (o.kind === 'bool') return ['true', 'false'];
  expect(o.kind, `${name}: give it sample values in FORMATTED`).toBe('string');
  return [`a-${name}`, `b-${name}`];
}

/** A text value as the file (YAML, at its key) and the flag (yargs' own types) carry it. */
const typed = (o: OptionSpec, text: string): unknown => (o.kind === 'bool' ? text === 'true' : o.kind === 'int' ? Number(text) : text);
const nested = (key: string, value: unknown): Record<string, unknown> => key.split('.').reduceRight<unknown>((v, k) => ({ [k]: v }), value) as Record<string, unknown>;

describe('each config option, declared once', () => {
  const { dir } = tempDir();
  const file = join(dir, 'c.yaml');
  const load = (o: OptionSpec & { key: string }, name: string, s: { file?: string; env?: string; flag?: string }): Omit<Config, 'configFile'> => {
    if (s.file !== undefined) writeFileSync(file, stringify(nested(o.key, typed(o, s.file))));
    const env = s.env !== undefined ? { [o.env!]: s.env } : {};
    // yargs hands over a switch as a boolean and everything else as the text typed.
    const flags = (s.flag !== undefined ? { [name]: o.kind === 'bool' ? typed(o, s.flag) : s.flag } : {}) as FlagValues;
    const { configFile: _f, ...c } = loadConfig({ configPath: s.file !== undefined ? file : undefined, env, flags, cwd: dir });
    // Where the sandbox's mode came from is said at start, and differs by source by design; the value is what must not.
    return { ...c, sandbox: { ...c.sandbox, modeFrom: null } };
  };

  for (const [name, o] of OPTIONS_WITH_KEYS) {
    it(`${flagOf(name)}${o.env ? ` / ${o.env}` : ''} / ${o.key}: the same value from each source, and flag > env > file > default`, () => {
      const [a, b] = values(name, o);
      const defaults = load(o, name, {});
      const fromFlag = load(o, name, { flag: a });
      expect(load(o, name, { flag: b })).not.toEqual(fromFlag);
      expect(load(o, name, { file: a })).toEqual(fromFlag);
      // One of the two differs from the default, whatever the default is.
      expect([fromFlag, load(o, name, { flag: b })].some((c) => JSON.stringify(c) !== JSON.stringify(defaults))).toBe(true);
      expect(load(o, name, { file: b, flag: a })).toEqual(fromFlag);
      if (o.env === undefined) return;
      expect(load(o, name, { env: a })).toEqual(fromFlag);
      expect(load(o, name, { file: b, env: a })).toEqual(fromFlag);
      expect(load(o, name, { env: b, flag: a })).toEqual(fromFlag);
      expect(load(o, name, { file: b, env: b, flag: a })).toEqual(fromFlag);
    });
  }

  /** A value no option of the kind takes: text for a number, an unknown choice, an empty string, a word that is no switch. */
  const bad = (o: OptionSpec & { key: string }) => (o.kind === 'int' ? 'abc' : o.kind === 'bool' ? 'maybe' : choicesOf(o.key) ? 'nope' : '');

  for (const [name, o] of OPTIONS_WITH_KEYS.filter(([, o]) => o.env !== undefined)) {
    it(`${flagOf(name)} and ${o.env} refuse ${JSON.stringify(bad(o))} with the same message, each naming itself`, () => {
      const value = bad(o);
      const fromEnv = () => load(o, name, { env: value });
      expect(fromEnv).toThrow(new RegExp(`^${o.env}: `));
      const envMessage = (() => {
        try {
          fromEnv();
        } catch (e) {
          return (e as Error).message;
        }
      })()!;
      // yargs reads a switch itself: only the variable has a word to refuse.
      if (o.kind === 'bool') return void expect(envMessage).toBe(`${o.env}: "maybe" is not true or false`);
      expect(() => load(o, name, { flag: value })).toThrow(`${flagOf(name)}: ${envMessage.slice(o.env!.length + 2)}`);
      if (o.kind !== 'int') expect(() => load(o, name, { file: value })).toThrow(`config ${file}: ${o.key}: ${envMessage.slice(o.env!.length + 2)}`);
    });
  }

  it('names IRON_CAGE_CONFIG, not --config, when the variable is the empty one', () => {
    expect(() => loadConfig({ env: { IRON_CAGE_CONFIG: '' }, cwd: dir })).toThrow(/^IRON_CAGE_CONFIG: must not be empty$/);
    expect(() => loadConfig({ configPath: '', env: {}, cwd: dir })).toThrow(/^--config: must not be empty$/);
  });

  it("is what docs/configuration.md's option table says: each start option with its variable and config key, and no other", () => {
    const doc = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
    const table = doc.slice(doc.indexOf('## Options of `iron-cage start`'), doc.indexOf('\n## ', doc.indexOf('## Options of `iron-cage start`') + 1));
    const start = (Object.entries(OPTIONS) as Array<[string, OptionSpec]>).filter(([, o]) => o.commands.start !== undefined);
    for (const [name, o] of start) {
      const cell = (v: string | undefined) => (v === undefined ? ' ' : ` \`${v}\` `);
      expect(table, flagOf(name)).toContain(`| \`${flagOf(name)}\` |${cell(o.env)}|${cell(o.key)}|`);
    }
    const rows = [...table.matchAll(/^\| `(--[a-z-]+)` \|/gm)].map((m) => m[1]);
    expect(rows.sort()).toEqual(start.map(([name]) => flagOf(name)).sort());
  });
});
