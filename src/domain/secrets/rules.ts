import { ValidationError } from '../../core/errors.js';

// What a secret may be called and hold, and how it is shown without being shown.

const NAME = '[A-Z_][A-Z0-9_]*';
export const NAME_RE = new RegExp(`^${NAME}$`);
/** `secret:NAME` as a whole config value (a provider key): the value lives in the vault. */
export const SECRET_REF_RE = new RegExp(`^secret:(${NAME})$`);
/**
 * `${secret:NAME}` or `${panel:NAME}` inside a config string (a tool header): group 1 the source,
 * group 2 the name; global, for `replace` and `matchAll`.
 */
export const SECRET_TEMPLATE_RE = new RegExp(`\\$\\{(secret|panel):(${NAME})\\}`, 'g');

/**
 * Where a config value's secret lives: `secret:NAME` in this runtime's vault, `panel:NAME` in the
 * vault of the control panel it reports to (`panel.url`), read by its runtime token.
 */
export type RefSource = 'secret' | 'panel';
export interface ConfigRef {
  source: RefSource;
  name: string;
}
const CONFIG_REF_RE = new RegExp(`^(secret|panel):(${NAME})$`);

/**
 * The secret a whole config value refers to (a provider's `api_key`), or null for a plain value.
 *
 * @example
 *   configRef('panel:OPENAI_API_KEY'); // { source: 'panel', name: 'OPENAI_API_KEY' }
 *   configRef('sk-…');                 // null
 */
export function configRef(value: string | null): ConfigRef | null {
  const m = value === null ? null : CONFIG_REF_RE.exec(value);
  return m ? { source: m[1] as RefSource, name: m[2]! } : null;
}

/** A reference as the config writes it: `panel:NAME`. */
export const refText = (r: ConfigRef): string => `${r.source}:${r.name}`;
export const NAME_MAX = 128;
export const VALUE_MAX_BYTES = 64 * 1024;
export const ENV_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const DEFAULT_ENVIRONMENT = 'development';

/** Throws ValidationError naming what is wrong; returns the name. */
export function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw new ValidationError('name: must be a non-empty string');
  if (name.length > NAME_MAX) throw new ValidationError(`name: must be at most ${NAME_MAX} characters`);
  if (!NAME_RE.test(name)) throw new ValidationError('name: must match [A-Z_][A-Z0-9_]* (upper-case letters, digits and _, not starting with a digit)');
  return name;
}

export function checkEnvironment(env: unknown): string {
  if (typeof env !== 'string' || !ENV_RE.test(env)) throw new ValidationError('environment: must be 1-64 characters of a-z, 0-9, _ and -, starting with a letter or digit');
  return env;
}

/** A value: a string of at most 64 KB of UTF-8, no NUL (it must fit in a process environment). */
export function checkValue(value: unknown): string {
  if (typeof value !== 'string') throw new ValidationError('value: must be a string');
  if (value.length === 0) throw new ValidationError('value: must not be empty');
  if (value.includes('\0')) throw new ValidationError('value: must not contain a NUL character');
  if (/[\uD800-\uDFFF]/.test(value.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) throw new ValidationError('value: is not valid UTF-8 (lone surrogate)');
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > VALUE_MAX_BYTES) throw new ValidationError(`value: is ${bytes} bytes; at most ${VALUE_MAX_BYTES} bytes of UTF-8`);
  return value;
}

/**
 * `sk-proj-abcdef…xyz` → `sk-p...xyz`: never more than 4 leading and 3 trailing characters,
 * and nothing at all of a value shorter than 12 characters (4+3 of 8 would be most of it).
 *
 * @example
 *   mask('sk-proj-abcdefghijklmnop'); // 'sk-p...nop'
 *   mask('hunter2');                  // '********'
 */
export function mask(value: string): string {
  const chars = [...value];
  if (chars.length < 12) return '********';
  return `${chars.slice(0, 4).join('')}...${chars.slice(-3).join('')}`;
}

/** A runtime's secret scope on a control panel: `NAME`, `PREFIX_*` (every name starting so) or `*` (all). */
const SCOPE_RE = /^(?:[A-Z_][A-Z0-9_]*\*?|\*)$/;

/**
 * The patterns of a runtime's scope, checked and without repeats; ValidationError naming the bad one.
 *
 * @example
 *   checkScope(['OPENAI_API_KEY', 'CRM_*']); // ['OPENAI_API_KEY', 'CRM_*']
 */
export function checkScope(patterns: unknown): string[] {
  if (!Array.isArray(patterns)) throw new ValidationError('secrets: must be a list of names or PREFIX_* patterns');
  for (const p of patterns)
    if (typeof p !== 'string' || p.length > NAME_MAX + 1 || !SCOPE_RE.test(p))
      throw new ValidationError(`secrets: '${String(p).slice(0, 70)}' is not a secret name ([A-Z_][A-Z0-9_]*) or a PREFIX_* pattern`);
  return [...new Set(patterns as string[])].sort();
}

/** Whether `name` is in the scope `patterns` (an empty scope holds nothing). */
export function inScope(patterns: readonly string[], name: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : p === name));
}
