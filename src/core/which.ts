import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The executable file `name` as a shell finds it on `path` (a folder list, PATH's syntax): the
 * first entry holding a file of that name this user may run, or null. Relative entries and empty
 * ones are passed over, as a caller that means to run the file later cannot trust them.
 *
 * @example which('bwrap') // '/usr/bin/bwrap'
 */
export function which(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir.startsWith('/')) continue;
    const full = join(dir, name);
    if (isExecutableFile(full)) return full;
  }
  return null;
}

/** Whether `path` is a file (links followed) this user may run. */
export function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
