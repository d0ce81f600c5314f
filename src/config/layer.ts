// The one snake_case → camelCase layering. Each config section declares, per camelCase key,
// where its value comes from in a parsed layer; `layer` lays one parsed source over the
// values so far. A key the source leaves out keeps its value.

/** The snake_case keys of `L` whose values fit `T` as they are. */
type SameKey<L, T> = { [S in keyof L]-?: NonNullable<L[S]> extends T ? S : never }[keyof L];

/**
 * Where one config value comes from: the snake_case key that holds it as it is, a function that
 * derives it (a nested section, a unit change, a merge; undefined when the source is silent), or
 * null for a value no source sets (the loader fills it in).
 */
export type Rule<L, T> = SameKey<L, T> | ((l: L, cur: T) => T | undefined) | null;

/** One rule for every key of a config section: a forgotten key is a type error. */
export type Keys<C, L> = { [K in keyof C]: Rule<L, C[K]> };

/**
 * Lay `source` (one parsed file, environment or flag layer, or a section of it) over `cur`.
 *
 * @example
 *   const RETRY: Keys<Retry, RetryLayer> = { attempts: 'attempts', baseMs: 'base_ms', maxMs: 'max_ms' };
 *   layer({ attempts: 3, baseMs: 250, maxMs: 8000 }, { base_ms: 100 }, RETRY); // { attempts: 3, baseMs: 100, maxMs: 8000 }
 */
export function layer<C extends object, L extends object>(cur: C, source: L | undefined, keys: Keys<C, L>): C {
  if (source === undefined) return cur;
  const out = { ...cur };
  for (const k of Object.keys(keys) as Array<keyof C>) {
    const rule = keys[k];
    if (rule === null) continue;
    const value = typeof rule === 'function' ? rule(source, cur[k]) : (source[rule as keyof L] as C[keyof C] | undefined);
    if (value !== undefined) out[k] = value;
  }
  return out;
}

/** A record merged key by key over the one so far (routing tables, per-type policies). */
export const merged =
  <L, S extends keyof L>(key: S) =>
  <T extends object>(l: L, cur: T): T | undefined =>
    l[key] === undefined ? undefined : ({ ...cur, ...l[key] } as T);
