import { readExistingKey, stateFilesFor } from '../auth/index.js';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { deriveAuditKeys, openSealedValue, redact } from '../domain/pii/index.js';
import { PiiStore, type PiiAuditRow, type StateManager } from '../state/index.js';

export interface RevealRequest {
  state: StateManager;
  /** The database file `state` has open: its audit key sits beside it. */
  dbPath: string;
  id: number;
  /** Who asks, as the record names them (`cli:alice`). */
  by: string;
  /** Why, for the record (PII in it is replaced). */
  reason?: string | null;
}

/** A finding without its hash and seal, and the value the seal held. */
export interface Revealed {
  finding: Omit<PiiAuditRow, 'valueSealed' | 'valueHmac'>;
  value: string;
}

/**
 * Opens one sealed finding of the PII audit trail (the original value, kept sealed for
 * the audit). Only the holder of the audit key beside the database can (0600, the operator's
 * file), and the reveal is itself put on the append-only event log, naming who, which finding
 * and why, never the value, before the value is handed back: a reveal that could not be
 * recorded does not happen.
 *
 * @example
 * const { value } = revealFinding({ state, dbPath: config.db, id: 12, by: 'cli:alice' });
 */
export function revealFinding(r: RevealRequest): Revealed {
  const keyPath = stateFilesFor(r.dbPath).auditKey;
  let secret: Uint8Array | null;
  try {
    secret = readExistingKey(keyPath);
  } catch (e) {
    throw new ValidationError(`the audit key ${keyPath} cannot be read: ${(e as Error).message}`, 'audit_key_unreadable');
  }
  if (!secret) throw new ValidationError(`no audit key at ${keyPath}: findings open only with the key iron-cage created beside the database that holds them`, 'audit_key_missing');
  const row = new PiiStore(r.state).get(r.id);
  if (!row) throw new NotFoundError(`no PII finding #${r.id} in ${r.dbPath} ('iron-cage audit pii' lists them)`);
  let value: string;
  try {
    value = openSealedValue(row.valueSealed, deriveAuditKeys(secret).encryptionKey);
  } catch {
    throw new ValidationError(`PII finding #${r.id} does not open with the audit key at ${keyPath}: not the key that sealed it, or the row was altered`, 'invalid_sealed_value');
  }
  const reason = r.reason ? redact(r.reason).text : null;
  r.state.record({
    agentId: row.agentId,
    type: 'pii.revealed',
    severity: 'warn',
    message: `PII finding #${row.id} (${row.type} in ${row.location}) revealed by ${r.by}${reason ? `: ${reason}` : ''}`,
    data: { auditId: row.id, type: row.type, location: row.location, by: r.by, reason },
  });
  const { valueSealed: _sealed, valueHmac: _hash, ...finding } = row;
  return { finding, value };
}
