// The secrets vault (npm run bench -- secrets): a cold Argon2id derivation (slow by design),
// decrypting and injecting 100 secrets with their keys cached (what a restart of a supervised
// agent costs), and listing 1,000 secrets masked (what the dashboard and the API pay).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Principal } from '../../src/auth/index.js';
import { newSecretId } from '../../src/core/ids.js';
import { deriveKey, KDF_DEFAULTS, Vault } from '../../src/domain/secrets/index.js';
import { onSqlite, SecretsStore, StateManager } from '../../src/state/index.js';
import { VaultService } from '../../src/secrets/index.js';
import { fmt, percentile, report, type Row } from './lib.js';

const KEY = 'bench master key';
const INJECT_TARGET_MS = 5;
const admin: Principal = { role: 'admin', agentId: null, name: 'bench', jti: '' };
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function timed(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(ms(t0));
  }
  return out.sort((a, b) => a - b);
}

const dir = mkdtempSync(join(tmpdir(), 'iron-cage-bench-secrets-'));
try {
  const rows: Row[] = [];
  const cold = await timed(10, () => deriveKey(KEY, randomBytes(16), KDF_DEFAULTS));
  rows.push({
    metric: `cold key derivation, Argon2id m=${KDF_DEFAULTS.m} KiB t=${KDF_DEFAULTS.t} p=${KDF_DEFAULTS.p} (p50 / p95 of 10)`,
    value: `${fmt(percentile(cold, 50), 1)} / ${fmt(percentile(cold, 95), 1)} ms`,
    target: 'tens of ms, by design',
  });

  // 100 secrets of one environment, sealed with the default parameters; their keys stay cached.
  const state = StateManager.open(join(dir, 'a.db'));
  const vault = await VaultService.open({ store: new SecretsStore(onSqlite(state)), state }, KEY);
  for (let i = 0; i < 100; i++) await vault.create(admin, { name: `SECRET_${i}`, environment: 'production', value: `value-${i}-${randomBytes(24).toString('hex')}` });
  const warm = await timed(50, () => vault.inject('be-00000001', 'production'));
  const p50 = percentile(warm, 50);
  rows.push({
    metric: 'warm decrypt + inject of 100 secrets, audit rows included (p50 / p95 of 50)',
    value: `${fmt(p50, 2)} / ${fmt(percentile(warm, 95), 2)} ms`,
    target: `< ${INJECT_TARGET_MS} ms`,
    ok: p50 < INJECT_TARGET_MS,
  });
  await state.close();

  // 1,000 secrets. A list opens only the masked previews (vault key: no per-row derivation), so
  // the rows are sealed with light parameters to keep the setup short; the list path is the same.
  const big = StateManager.open(join(dir, 'b.db'));
  const store = new SecretsStore(onSqlite(big));
  const light = await Vault.unlock(KEY, null, { alg: 'argon2id', m: 8192, t: 1, p: 1, len: 32 });
  store.saveMeta(light.vault.check);
  await Promise.all(
    Array.from({ length: 1000 }, async (_, i) => {
      const who = { id: newSecretId(), name: `SECRET_${i}`, environment: ['development', 'staging', 'production'][i % 3]! };
      store.create(
        await light.vault.seal(who, `value-${i}-${randomBytes(24).toString('hex')}`),
        { secretName: who.name, operation: 'CREATE', requesterRole: 'admin', requester: 'bench', agentId: null, success: true, errorMessage: null },
        { agentId: null, type: 'secret.created', severity: 'info', message: 'bench', data: { name: who.name, environment: who.environment, by: 'bench' } },
      );
    }),
  );
  const listing = await VaultService.open({ store, state: big }, KEY);
  let n = 0;
  const list = await timed(30, async () => (n = (await listing.list(admin)).length));
  rows.push({ metric: `list ${n} secrets, masked (p50 / p95 of 30)`, value: `${fmt(percentile(list, 50), 2)} / ${fmt(percentile(list, 95), 2)} ms`, target: '' });
  await big.close();
  report('secrets', 'Secrets vault (npm run bench -- secrets)', rows);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
