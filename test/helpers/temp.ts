import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Temporary folders for tests, and the record of those not removed yet: after each file,
// test/helpers/temp-setup.ts removes what the file left. Apart from runtime.ts, whose imports
// (the whole runtime) every file's setup would otherwise load.

/** Every folder `tempDir` made that its file has not removed yet. */
const madeDirs = new Set<string>();

export function tempDir(prefix = 'iron-cage-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  madeDirs.add(dir);
  return {
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      madeDirs.delete(dir);
    },
  };
}

/** Removes what `tempDir` made and nobody removed: run after each file, whatever it forgot or its failure left. */
export function removeTempDirs(): void {
  for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
  madeDirs.clear();
}
