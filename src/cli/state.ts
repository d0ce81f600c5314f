import { existsSync } from 'node:fs';

/**
 * Whether there is no state file at `db` yet (`:memory:` is always there). A command that reads
 * or changes what a state file holds (`token list`, `user rm`, `secrets get`…) answers from
 * nothing there without making one, and one that adds (`token create`, `user add`, `secrets
 * set`) checks its input before it makes one: a refused command leaves no state file behind.
 * (Nothing made is ever taken back: by then another iron-cage may be using it.)
 *
 * @example if (noStateAt(config.db)) return out('No API tokens.');
 */
export function noStateAt(db: string): boolean {
  return db !== ':memory:' && !existsSync(db);
}
