import { noStateAt } from './state.js';
import { userInfo } from 'node:os';
import { loadConfig } from '../config/index.js';
import { ConfigError, IronCageError } from '../core/errors.js';
import { escapeControl } from '../core/logger.js';
import { PII_TYPES } from '../domain/pii/index.js';
import { revealFinding } from '../pii/index.js';
import { PiiStore, StateManager } from '../state/index.js';
import { wholeFlag } from './options.js';

export interface AuditArgs {
  what: 'pii';
  reveal?: number;
  reason?: string;
  agent?: string;
  type?: string;
  after?: number;
  limit?: number;
  db?: string;
  config?: string;
  json?: boolean;
}

const MAX_LIST = 1000;

/**
 * `iron-cage audit pii`: the PII audit trail on the database file, findings without their
 * values; `--reveal ID` opens one finding's sealed value with the audit key beside the
 * database, and records that it did (a `pii.revealed` event) before printing it.
 */
export async function runAudit(a: AuditArgs): Promise<void> {
  const config = loadConfig({ configPath: a.config, flags: { db: a.db } });
  wholeFlag('reveal', a.reveal, 1);
  wholeFlag('after', a.after, 0);
  wholeFlag('limit', a.limit, 1, MAX_LIST);
  if (a.type !== undefined && !(PII_TYPES as readonly string[]).includes(a.type)) throw new ConfigError(`--type: must be one of ${PII_TYPES.join(', ')}`);
  if (a.reason !== undefined && a.reveal === undefined) throw new ConfigError('--reason: only with --reveal');
  // Opening a missing file would create an empty database: there is nothing to audit there.
  if (noStateAt(config.db)) throw new ConfigError(`no database at ${config.db} (--db names it)`);
  const state = StateManager.open(config.db);
  // Rows may quote what an agent sent: shown, never obeyed by the terminal.
  const out = (s: string): void => void process.stdout.write(`${escapeControl(s, { lines: true })}\n`);
  try {
    if (a.reveal !== undefined) {
      const { finding, value } = revealFinding({ state, dbPath: config.db, id: a.reveal, by: `cli:${userInfo().username}`, reason: a.reason ?? null });
      await state.close();
      if (a.json) return out(JSON.stringify({ ...finding, value }));
      return out(value);
    }
    const rows = new PiiStore(state).list({ agentId: a.agent, type: a.type, after: a.after, limit: a.limit ?? 100 }).map(({ valueSealed: _s, valueHmac: _h, ...r }) => r);
    if (a.json) return out(JSON.stringify(rows));
    if (rows.length === 0) return out('No PII findings.');
    for (const r of rows) out(`#${r.id}  ${r.ts}  ${r.agentId ?? '-'}  ${r.location}  ${r.type}  ${r.action}${r.requestRef ? `  ${r.requestRef}` : ''}`);
  } catch (e) {
    // A finding that does not exist or does not open, a key that is missing: one line, exit 2.
    if (e instanceof IronCageError && !(e instanceof ConfigError) && e.status < 500) throw new ConfigError(e.message);
    throw e;
  } finally {
    await state.close();
  }
}
