import { readFileSync, type Stats, statSync } from 'node:fs';
import { ConfigError } from '../core/errors.js';

/**
 * A file the user named (a config, a CA, a script), as text, or one line saying why not:
 * missing, a folder, unreadable, or no regular file (a FIFO or a device would hold the read
 * forever, waiting for a writer). `label` starts the message (`config c.yaml`).
 */
export function readNamedFile(path: string, label: string): string {
  const why = (e: unknown): string => {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code ?? String(e)})`;
  };
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw new ConfigError(`${label}: ${why(e)}`);
  }
  if (st.isDirectory()) throw new ConfigError(`${label}: is a directory`);
  if (!st.isFile()) throw new ConfigError(`${label}: is not a regular file (${st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device'}); give a file's path`);
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`${label}: ${why(e)}`);
  }
}
