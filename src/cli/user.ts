import { addUser, checkPassword, checkUserName, USER_ROLES } from '../auth/index.js';
import { loadConfig } from '../config/index.js';
import { escapeControl } from '../core/logger.js';
import { ConfigError, IronCageError } from '../core/errors.js';
import { onSqlite, StateManager, UsersStore } from '../state/index.js';
import { noStateAt } from './state.js';
import { readStdin } from './secrets.js';

export interface UserArgs {
  action: 'add' | 'rm' | 'list';
  name?: string;
  role?: string;
  db?: string;
  config?: string;
  json?: boolean;
}

/**
 * `iron-cage user …` on the database file directly. The password comes from stdin, never argv
 * (argv shows in `ps` and shell history), and only its Argon2id hash is stored. A running
 * iron-cage refuses a removed user's tokens within seconds (its verification cache).
 */
export async function runUser(a: UserArgs, input: NodeJS.ReadableStream = process.stdin): Promise<void> {
  const config = loadConfig({ configPath: a.config, flags: { db: a.db } });
  if (a.action !== 'list' && !a.name) throw new ConfigError(`user ${a.action}: name the user, e.g. iron-cage user ${a.action} ann${a.action === 'add' ? ' --role viewer' : ''}`);
  if (a.action === 'add' && !(USER_ROLES as readonly string[]).includes(a.role ?? '')) throw new ConfigError(`--role: required, ${USER_ROLES.join(' or ')}`);
  // Names and labels in the database may come from an agent: shown, never obeyed by the terminal.
  const out = (s: string): void => void process.stdout.write(`${escapeControl(s, { lines: true })}\n`);
  // The input first (the password too): a refused command makes no state file.
  let password = '';
  if (a.action === 'add') {
    password = await readStdin(input, `Password for ${a.name}`);
    try {
      checkUserName(a.name!);
      checkPassword(password);
    } catch (e) {
      throw e instanceof IronCageError ? new ConfigError(e.message) : e;
    }
  } else if (noStateAt(config.db)) {
    if (a.action === 'list') return out(a.json ? '[]' : 'No users.');
    throw new ConfigError(`no user '${a.name}'`);
  }
  const state = StateManager.open(config.db);
  const users = new UsersStore(onSqlite(state));
  try {
    if (a.action === 'add') {
      const u = await addUser(users, { name: a.name!, role: a.role!, password });
      return a.json ? out(JSON.stringify(u)) : out(`Added ${u.role} user '${u.name}' (${u.id}).`);
    }
    if (a.action === 'rm') {
      const u = users.remove(a.name!);
      if (!u) throw new ConfigError(`no user '${a.name}'`);
      return a.json ? out(JSON.stringify(u)) : out(`Removed user '${u.name}' (${u.id}); their tokens are refused from now on.`);
    }
    const rows = users.list();
    if (a.json) return out(JSON.stringify(rows));
    if (rows.length === 0) return out('No users.');
    for (const u of rows) out(`${u.id}  ${u.role.padEnd(6)}  ${u.name}  added ${u.createdAt}`);
  } catch (e) {
    // Bad input (a short password, a taken name): one line, exit 2.
    if (e instanceof IronCageError && !(e instanceof ConfigError) && e.status < 500) throw new ConfigError(e.message);
    throw e;
  } finally {
    await state.close();
  }
}
