import { apiTokenName, createApiToken, type TokenRole } from '../auth/index.js';
import { loadConfig } from '../config/index.js';
import { escapeControl } from '../core/logger.js';
import { ConfigError, ValidationError } from '../core/errors.js';
import { formatUsd } from '../core/money.js';
import { usdInput } from '../core/validation.js';
import { onSqlite, StateManager, TokensStore } from '../state/index.js';
import { noStateAt } from './state.js';

export interface TokenArgs {
  action: 'create' | 'list' | 'revoke';
  role?: string;
  name?: string;
  budget?: string;
  db?: string;
  config?: string;
  id?: string;
  json?: boolean;
}

/** `iron-cage token …` works on the database file directly; a running iron-cage picks changes up. */
export async function runToken(a: TokenArgs): Promise<void> {
  const config = loadConfig({ configPath: a.config, flags: { db: a.db } });
  // Names and labels in the database may come from an agent: shown, never obeyed by the terminal.
  const out = (s: string): void => void process.stdout.write(`${escapeControl(s, { lines: true })}\n`);
  // The input first: a refused command makes no state file.
  const role = (a.role ?? 'agent') as TokenRole;
  let budgetMicros: number | null = null;
  if (a.action === 'create') {
    if (!a.name) throw new ConfigError('--name: required');
    try {
      apiTokenName(a.name);
    } catch (e) {
      throw e instanceof ValidationError ? new ConfigError(`--${e.message}`) : e;
    }
    if (a.budget !== undefined) {
      const r = usdInput().safeParse(a.budget);
      if (!r.success) throw new ConfigError(`--budget: ${r.error.issues[0]!.message}`);
      budgetMicros = r.data;
      if (role !== 'agent') throw new ConfigError('--budget: only agent tokens have a budget');
    }
  } else if (a.action === 'revoke' && !a.id) throw new ConfigError('token revoke: name the token by id or name');
  if (a.action !== 'create' && noStateAt(config.db)) {
    if (a.action === 'list') return out(a.json ? '[]' : 'No API tokens.');
    throw new ConfigError(`no active token '${a.id}'`);
  }
  const state = StateManager.open(config.db);
  const store = new TokensStore(onSqlite(state));
  try {
    if (a.action === 'create') {
      const t = createApiToken(state, store, { role, name: a.name!, budgetMicros });
      if (a.json) return out(JSON.stringify(t));
      out(`Created ${t.role} token '${t.name}' (${t.id})${t.agentId ? ` for agent ${t.agentId}` : ''}${budgetMicros !== null ? ` with a ${formatUsd(budgetMicros)} budget` : ''}.`);
      out(`Token (shown once; only its hash is stored):\n\n  ${t.token}\n`);
      if (t.role === 'agent') {
        const base = `http://${config.host}:${config.port}`;
        out('Point the agent at the gateway:');
        out(`  export OPENAI_BASE_URL=${base}/v1 OPENAI_API_KEY=${t.token}`);
        out(`  export ANTHROPIC_BASE_URL=${base} ANTHROPIC_API_KEY=${t.token}`);
      }
      return;
    }
    if (a.action === 'list') {
      const rows = store.list().map(({ hash: _h, ...t }) => t);
      if (a.json) return out(JSON.stringify(rows));
      if (rows.length === 0) return out('No API tokens.');
      for (const t of rows)
        out(
          `${t.id}  ${t.role.padEnd(6)}  ${t.kind.padEnd(7)}  ${t.name}${t.agentId ? `  agent ${t.agentId}` : ''}${t.expiresAt ? `  expires ${t.expiresAt}` : ''}${t.revokedAt ? `  revoked ${t.revokedAt}` : ''}`,
        );
      return;
    }
    const revoked = store.revoke(a.id!);
    if (revoked.length === 0) throw new ConfigError(`no active token '${a.id}' (by name only an API token; a session or a runtime token by its id, as iron-cage token list shows it)`);
    out(`Revoked ${revoked.map((t) => `${t.name} (${t.id})`).join(', ')}.`);
  } catch (e) {
    if (e instanceof ValidationError) throw new ConfigError(`--${e.message}`);
    throw e;
  } finally {
    await state.close();
  }
}
