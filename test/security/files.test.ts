import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { claimDataDir } from '../../src/demo/datadir.js';
import { writePrivateFile } from '../../src/state/index.js';
import { startTestRuntime, tempDir, until } from '../helpers/runtime.js';

// The state files (checkpoints, cached tool bodies, events, sealed secrets)
// are the operator's alone: 0600 when created whatever the umask allows, and tightened with a
// warning when an older run left them wider.

const mode = (path: string) => statSync(path).mode & 0o777;
const DB_FILES = (db: string) => [db, `${db}-wal`, `${db}-shm`];

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

describe('state file permissions', () => {
  it('creates iron_state.db, its WAL and its shared memory 0600 under a permissive umask', async () => {
    const d = tempDir();
    cleanup = d.cleanup;
    const old = process.umask(0o022);
    try {
      const db = join(d.dir, 'nested', 'iron_state.db');
      const t = await startTestRuntime({ dir: d.dir, config: { db } });
      try {
        // A write goes through the WAL, so all three files exist while the server runs.
        await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'viewer', name: 'v' }) });
        await until(() => DB_FILES(db).every((f) => existsSync(f)));
        for (const f of DB_FILES(db)) expect({ f, mode: mode(f).toString(8) }).toEqual({ f, mode: '600' });
        expect(mode(join(d.dir, 'nested'))).toBe(0o700);
      } finally {
        await t.stop();
      }
    } finally {
      process.umask(old);
    }
  });

  it('tightens a database an older run left world-readable, and says so in the log', async () => {
    const d = tempDir();
    cleanup = d.cleanup;
    const db = join(d.dir, 'iron_state.db');
    const first = await startTestRuntime({ dir: d.dir, config: { db } });
    await first.stop();
    chmodSync(db, 0o644);

    const t = await startTestRuntime({ dir: d.dir, config: { db } });
    try {
      expect(mode(db)).toBe(0o600);
      expect(t.log()).toMatch(/WARN .*iron_state\.db was 0644 \(readable by others\): tightened to 0600/);
      for (const f of DB_FILES(db).filter((f) => existsSync(f))) expect(mode(f)).toBe(0o600);
    } finally {
      await t.stop();
    }
  });

  it("keeps the demo's <db>.files folder and what is written in it to the operator", () => {
    const d = tempDir();
    cleanup = d.cleanup;
    const db = join(d.dir, 'iron_demo.db');
    const warnings: string[] = [];
    const dir = claimDataDir(db, false, (m) => warnings.push(m));
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, 'iron-cage-demo.json'))).toBe(0o600);
    expect(warnings).toEqual([]);

    // A folder from an older demo, wider than it should be: tightened, with a warning.
    chmodSync(dir, 0o755);
    claimDataDir(db, true, (m) => warnings.push(m));
    expect(mode(dir)).toBe(0o700);
    expect(warnings).toEqual([expect.stringMatching(/iron_demo\.db\.files was 0755 \(readable by others\): tightened to 0700/)]);

    // An export or results file: 0600 when new, and when it replaces a wider one.
    const results = join(dir, 'results.json');
    writePrivateFile(results, '{}');
    expect(mode(results)).toBe(0o600);
    chmodSync(results, 0o644);
    writePrivateFile(results, '{"again":true}');
    expect(mode(results)).toBe(0o600);
  });
});
