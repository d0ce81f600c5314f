import { userInfo } from 'node:os';
import type { Principal } from '../auth/index.js';
import { loadConfig } from '../config/index.js';
import { ConfigError, IronCageError } from '../core/errors.js';
import { SECRET_OPERATIONS, SecretsStore, StateManager, type SecretOperation } from '../state/index.js';
import { rekey, VaultService } from '../vault/index.js';
import { findServer, remoteChange } from './secrets-remote.js';

export interface SecretsArgs {
  action: 'list' | 'set' | 'rotate' | 'get' | 'rm' | 'audit' | 'rekey';
  name?: string;
  env?: string;
  db?: string;
  config?: string;
  operation?: string;
  limit?: number;
  json?: boolean;
  url?: string;
}

/** All of stdin, less one trailing newline (`echo value |` and here-strings add one). */
export async function readStdin(input: NodeJS.ReadableStream & { isTTY?: boolean }, what: string): Promise<string> {
  if (input.isTTY) process.stderr.write(`${what} (then Enter and Ctrl-D): `);
  const chunks: Buffer[] = [];
  for await (const c of input as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * `iron-cage secrets …` on the database file directly, as the local admin. The value comes
 * from stdin, never argv (argv shows in `ps` and shell history); only `get` prints one.
 * A server running on the same file sees the change on its next read, but sends no rotation
 * signal (change secrets through the API for that).
 */
export async function runSecrets(a: SecretsArgs, input: NodeJS.ReadableStream = process.stdin): Promise<void> {
  const config = loadConfig({ configPath: a.config, flags: { db: a.db, env: a.env } });
  const env = config.environment;
  const state = StateManager.open(config.db);
  const store = new SecretsStore(state);
  const out = (s: string): void => void process.stdout.write(`${s}\n`);
  const me: Principal = { role: 'admin', agentId: null, name: `cli:${userInfo().username}`, jti: '' };
  try {
    // A change goes through the server holding this database when one runs, so that running
    // agents hear of it; otherwise it is made on the file.
    if ((a.action === 'set' || a.action === 'rotate' || a.action === 'rm') && a.name) {
      const server = await findServer(config, userInfo().username, a.url);
      if (server) return out(await remoteChange(server, a.action, a.name, env, () => readStdin(input, `Value for ${a.name} (${env})`)));
    }
    const vault = await VaultService.open({ store, state }, process.env.IRON_CAGE_MASTER_KEY);
    const named = () => {
      if (!a.name) throw new ConfigError(`secrets ${a.action}: name the secret, e.g. iron-cage secrets ${a.action} OPENAI_API_KEY`);
      const row = store.liveByName(a.name, env);
      if (!row && a.action !== 'set') throw new ConfigError(`no secret ${a.name} in environment ${env}`);
      return row;
    };
    switch (a.action) {
      case 'list': {
        const rows = await vault.list(me, a.env === undefined && !process.env.IRON_CAGE_ENV ? undefined : env);
        if (a.json) return out(JSON.stringify(rows));
        if (rows.length === 0) return out('No secrets.');
        for (const s of rows) out(`${s.name.padEnd(24)}  ${s.environment.padEnd(12)}  ${s.maskedValue.padEnd(12)}  updated ${s.updatedAt}`);
        return;
      }
      case 'set':
      case 'rotate': {
        const row = named();
        const value = await readStdin(input, `Value for ${a.name} (${env})`);
        const s = row ? await vault.update(me, row.id, { value }) : await vault.create(me, { name: a.name, environment: env, value });
        return out(`${row ? 'Updated' : 'Created'} ${s.name} in ${s.environment} (${s.id}): ${s.maskedValue}`);
      }
      case 'get':
        return out((await vault.get(me, named()!.id, true)).value!);
      case 'rm': {
        const s = await vault.remove(me, named()!.id);
        return out(`Deleted ${s.name} from ${s.environment} (${s.id}).`);
      }
      case 'audit': {
        if (a.operation !== undefined && !(SECRET_OPERATIONS as readonly string[]).includes(a.operation)) throw new ConfigError(`--operation: must be one of ${SECRET_OPERATIONS.join(', ')}`);
        const rows = vault.auditLog(me, { secretName: a.name, operation: a.operation as SecretOperation | undefined, limit: a.limit ?? 100 });
        if (a.json) return out(JSON.stringify(rows));
        for (const r of rows) out(`${r.timestamp}  ${r.operation.padEnd(7)}  ${(r.secretName ?? '-').padEnd(24)}  ${r.requesterRole}:${r.requester}${r.agentId ? ` agent ${r.agentId}` : ''}  ${r.success ? 'ok' : `FAILED ${r.errorMessage ?? ''}`}`);
        return;
      }
      case 'rekey': {
        const n = await rekey(vault, store, await readStdin(input, 'New master key'), me);
        return out(`Re-encrypted ${n} secret(s) under the new master key; set IRON_CAGE_MASTER_KEY to it from now on.`);
      }
    }
  } catch (e) {
    // One line, exit 2: a bad name, a locked vault, a wrong key, a tampered row.
    if (e instanceof IronCageError && !(e instanceof ConfigError)) throw new ConfigError(e.message);
    throw e;
  } finally {
    await state.close();
  }
}
