import { closeSync, lstatSync, openSync, unlinkSync } from 'node:fs';

// The names a sandboxed run keeps from its agent (`SandboxPolicy.reserved`): iron-cage's files
// that do not exist yet in a folder the agent writes. bwrap can only mount over a name that
// exists, so each is made an empty file for the run (the mount point of a read-only /dev/null
// inside the sandbox) and removed once the run has ended, unless someone on this side of the
// sandbox has written into it meanwhile. One left behind by a run that never ended (a killed
// process) is empty: the config loader passes over an empty file (config/load.ts), SQLite over
// an empty journal.

/**
 * Take each name that is still free: returns the ones this call made (only those are released).
 * @example const taken = takeNames(policy.reserved); try { … } finally { releaseNames(taken) }
 */
export function takeNames(paths: readonly string[]): string[] {
  const taken: string[] = [];
  for (const p of paths) {
    try {
      closeSync(openSync(p, 'wx', 0o600));
      taken.push(p);
    } catch {
      // Made meanwhile (it is then masked as it is), or its folder is gone: nothing of ours to release.
    }
  }
  return taken;
}

/** Give the names back: each placeholder still empty is removed; one written into is left as it is. */
export function releaseNames(taken: readonly string[]): void {
  for (const p of taken) {
    try {
      const st = lstatSync(p);
      if (st.isFile() && st.size === 0) unlinkSync(p);
    } catch {
      /* already gone */
    }
  }
}
