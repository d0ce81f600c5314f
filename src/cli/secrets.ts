import { escapeControl } from '../core/logger.js';
import { isUtf8 } from 'node:buffer';
import { userInfo } from 'node:os';
import type { Principal } from '../auth/index.js';
import { loadConfig, OPTIONS } from '../config/index.js';
import { ConfigError, IronCageError } from '../core/errors.js';
import { onSqlite, SECRET_OPERATIONS, SecretsStore, StateManager, type SecretOperation } from '../state/index.js';
import { wholeFlag } from './options.js';
import { noStateAt } from './state.js';
import { checkEnvironment, checkName, checkValue } from '../domain/secrets/index.js';
import { rekey, VaultService, type SecretView } from '../secrets/index.js';
import { findServer, remoteChange, remoteRead, type SecretAuditView, type Server } from './secrets-remote.js';

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

/**
 * All of stdin, less one trailing newline (`echo value |` and here-strings add one). Bytes that
 * are not UTF-8 are refused: a value (a secret, a password) is kept intact or not at all, never
 * with U+FFFD in place of what was typed.
 */
export async function readStdin(input: NodeJS.ReadableStream & { isTTY?: boolean }, what: string): Promise<string> {
  if (input.isTTY) process.stderr.write(`${what} (then Enter and Ctrl-D): `);
  const chunks: Buffer[] = [];
  for await (const c of input as AsyncIterable<Buffer>) chunks.push(c);
  const bytes = Buffer.concat(chunks);
  if (!isUtf8(bytes)) throw new ConfigError(`${what}: stdin is not valid UTF-8 (nothing was stored)`);
  return bytes.toString('utf8').replace(/\r?\n$/, '');
}

const listLines = (rows: SecretView[], json: boolean | undefined): string[] =>
  json ? [JSON.stringify(rows)] : rows.length === 0 ? ['No secrets.'] : rows.map((s) => `${s.name.padEnd(24)}  ${s.environment.padEnd(12)}  ${s.maskedValue.padEnd(12)}  updated ${s.updatedAt}`);

const auditLines = (rows: SecretAuditView[], json: boolean | undefined): string[] =>
  json
    ? [JSON.stringify(rows)]
    : rows.map(
        (r) =>
          `${r.timestamp}  ${r.operation.padEnd(7)}  ${(r.secretName ?? '-').padEnd(24)}  ${r.requesterRole}:${r.requester}${r.agentId ? ` agent ${r.agentId}` : ''}  ${r.success ? 'ok' : `FAILED ${r.errorMessage ?? ''}`}`,
      );

/** The environment `list` shows: all of them unless one was asked for (flag or IRON_CAGE_ENV). */
const listScope = (a: SecretsArgs, env: string): string | undefined => (a.env === undefined && !process.env[OPTIONS.env.env] ? undefined : env);

/** What the CLI does through a running server: everything but rekey, which must run alone. */
async function throughServer(a: SecretsArgs, s: Server, env: string, value: () => Promise<string>, db: string): Promise<string[]> {
  switch (a.action) {
    case 'list':
      return listLines(await remoteRead.list(s, listScope(a, env)), a.json);
    case 'get':
      return [await remoteRead.get(s, a.name!, env)];
    case 'audit':
      return auditLines(await remoteRead.audit(s, { name: a.name, operation: a.operation, limit: a.limit ?? 100 }), a.json);
    case 'rekey':
      throw new ConfigError(`secrets rekey: stop the iron-cage serving ${db} first (at ${s.url}); it holds the old key`);
    default:
      return [await remoteChange(s, a.action, a.name!, env, value)];
  }
}

/**
 * `iron-cage secrets …` as the local admin: through the iron-cage serving this database when
 * one answers (changes then reach running agents, and no master key is needed here), else on
 * the file with IRON_CAGE_MASTER_KEY. The value comes from stdin, never argv (argv shows in
 * `ps` and shell history); only `get` prints one. `rekey` runs on the file, with no server.
 */
export async function runSecrets(a: SecretsArgs, input: NodeJS.ReadableStream = process.stdin): Promise<void> {
  const config = loadConfig({ configPath: a.config, flags: { db: a.db, env: a.env } });
  wholeFlag('limit', a.limit, 1, 1000);
  const env = config.environment;
  // Names, requesters and audit errors may come from agents: escaped like every printer. A value
  // asked for with `get` is printed exactly, for `$(iron-cage secrets get X)`.
  const out = (s: string): void => void process.stdout.write(`${a.action === 'get' ? s : escapeControl(s, { lines: true })}\n`);
  // The input first: a refused command makes no state file, and with none there, only `set` makes one.
  if (a.action === 'audit' && a.operation !== undefined && !(SECRET_OPERATIONS as readonly string[]).includes(a.operation))
    throw new ConfigError(`--operation: must be one of ${SECRET_OPERATIONS.join(', ')}`);
  if ((a.action === 'get' || a.action === 'set' || a.action === 'rotate' || a.action === 'rm') && !a.name)
    throw new ConfigError(`secrets ${a.action}: name the secret, e.g. iron-cage secrets ${a.action} OPENAI_API_KEY`);
  // `set` makes what is not there (the state file, the vault's binding to its key): the name,
  // the environment and the value are checked before anything is opened.
  let setValue: string | undefined;
  if (a.action === 'set') {
    try {
      checkName(a.name);
      checkEnvironment(env);
      setValue = checkValue(await readStdin(input, `Value for ${a.name} (${env})`));
    } catch (e) {
      throw e instanceof IronCageError && !(e instanceof ConfigError) ? new ConfigError(`secrets set: ${e.message} (nothing was stored)`) : e;
    }
  }
  const keyHint = `set it for this command alone: IRON_CAGE_MASTER_KEY=… iron-cage secrets ${a.action}`;
  // No state file, so no server holding one: only the key could seal the value.
  if (a.action === 'set' && !process.env.IRON_CAGE_MASTER_KEY && noStateAt(config.db))
    throw new ConfigError(`the secrets vault is locked: IRON_CAGE_MASTER_KEY is not set (${keyHint}); nothing was stored`);
  const value = async (): Promise<string> => setValue ?? readStdin(input, `Value for ${a.name} (${env})`);
  if (a.action !== 'set' && noStateAt(config.db)) {
    if (a.action === 'list') return out(listLines([], a.json)[0]!);
    if (a.action === 'audit') return void (a.json ? out('[]') : undefined);
    if (a.action === 'rekey') throw new ConfigError(`secrets rekey: there is no iron-cage state at ${config.db} (--db names it)`);
    throw new ConfigError(`no secret ${a.name} in environment ${env}`);
  }
  const state = StateManager.open(config.db);
  const store = new SecretsStore(onSqlite(state));
  const me: Principal = { role: 'admin', agentId: null, name: `cli:${userInfo().username}`, jti: '' };
  try {
    // With a server holding this database, the CLI goes through it: a change reaches running
    // agents (SIGUSR1), and no master key is needed here. Otherwise it works on the file.
    const server = await findServer(config, userInfo().username, a.url);
    if (server) {
      for (const line of await throughServer(a, server, env, value, config.db)) out(line);
      return;
    }
    // A vault nothing was ever sealed in (no key check stored) holds nothing to read or change:
    // said without unlocking it, which would bind it to this command's key (a typo'd key on a
    // refused `get` made every later key "wrong").
    if (store.meta() === null && (a.action === 'list' || a.action === 'get' || a.action === 'rm' || a.action === 'rotate')) {
      if (a.action === 'list') return out(listLines([], a.json)[0]!);
      throw new ConfigError(`no secret ${a.name} in environment ${env}`);
    }
    const vault = await VaultService.open({ store, state, keyHint }, process.env.IRON_CAGE_MASTER_KEY);
    const named = () => {
      if (!a.name) throw new ConfigError(`secrets ${a.action}: name the secret, e.g. iron-cage secrets ${a.action} OPENAI_API_KEY`);
      const row = store.liveByName(a.name, env);
      if (!row && a.action !== 'set') throw new ConfigError(`no secret ${a.name} in environment ${env}`);
      return row;
    };
    switch (a.action) {
      case 'list':
        for (const line of listLines(await vault.list(me, listScope(a, env)), a.json)) out(line);
        return;
      case 'set':
      case 'rotate': {
        const row = named();
        const v = await value();
        const s = row ? await vault.update(me, row.id, { value: v }) : await vault.create(me, { name: a.name, environment: env, value: v });
        return out(`${row ? 'Updated' : 'Created'} ${s.name} in ${s.environment} (${s.id}): ${s.maskedValue}`);
      }
      case 'get':
        return out((await vault.get(me, named()!.id, true)).value!);
      case 'rm': {
        const s = await vault.remove(me, named()!.id);
        return out(`Deleted ${s.name} from ${s.environment} (${s.id}).`);
      }
      case 'audit':
        for (const line of auditLines(await vault.auditLog(me, { secretName: a.name, operation: a.operation as SecretOperation | undefined, limit: a.limit ?? 100 }), a.json)) out(line);
        return;
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
