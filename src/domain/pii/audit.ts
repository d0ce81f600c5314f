import { createCipheriv, createDecipheriv, createHmac, hkdfSync, type KeyObject, randomBytes } from 'node:crypto';
import { ValidationError } from '../../core/errors.js';
import { foldText } from './normalize.js';
import { severityFor, type SafetyPolicy } from './policy.js';
import type { Detection, PiiType, Risk, Severity } from './types.js';

// Audit records hold a keyed hash of the value, so the same value can be recognised
// across records without being readable or guessable from the hash, and the value itself
// sealed with AES-256-GCM for an authorised reviewer. Nothing here logs or returns plaintext
// except openSealedValue.
//
// A disguised value (`ceo\u200b@acme.com`, `５３６–２２–８１４７`) is hashed as what it stands for,
// so it matches every other record of the same value, plain or disguised otherwise; it is sealed
// as it was written, code point for code point: the reviewer sees what was actually sent (the
// disguise is evidence of an attempt), and the record's offsets point at exactly that text.

const MIN_HMAC_KEY_BYTES = 16;
const SEALED_PREFIX = 'v1';

/**
 * The same phone or card written two ways hashes the same: `(555) 123-4567` and `555.123.4567`,
 * and `５５５–１２３–４５６７` (folded first, as the detectors read it).
 */
export function normalizeValue(type: PiiType, written: string): string {
  const value = foldText(written);
  switch (type) {
    case 'EMAIL':
      return value.toLowerCase();
    case 'PHONE':
      return (value.trimStart().startsWith('+') ? '+' : '') + value.replace(/\D/g, '');
    case 'CREDIT_CARD':
    case 'SSN':
      return value.replace(/\D/g, '');
    case 'IBAN':
      return value.replace(/\s/g, '').toUpperCase();
    case 'IP_ADDRESS':
      return value.toLowerCase();
    case 'API_KEY':
      return value;
  }
}

/** HMAC-SHA256, hex. */
export function hmacValue(value: string, key: Uint8Array): string {
  if (key.byteLength < MIN_HMAC_KEY_BYTES) throw new ValidationError(`the audit hash key must be at least ${MIN_HMAC_KEY_BYTES} bytes`);
  return createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

function checkAesKey(key: Uint8Array): void {
  if (key.byteLength !== 32) throw new ValidationError('the audit encryption key must be exactly 32 bytes (AES-256)');
}

/**
 * AES-256-GCM with a fresh 12-byte nonce: `v1.<iv>.<tag>.<ciphertext>`, base64url. A caller
 * sealing many values may pass the key imported once (`createSecretKey`) and nonces it draws
 * from a pool of CSPRNG bytes (stored Responses turns: gateway/stored-items.ts); each nonce
 * must be fresh random bytes, never reused.
 */
export function sealValue(value: string, key: Uint8Array | KeyObject, iv: Buffer = randomBytes(12)): string {
  if (key instanceof Uint8Array) checkAesKey(key);
  else if (key.symmetricKeySize !== 32) throw new ValidationError('the audit encryption key must be exactly 32 bytes (AES-256)');
  if (iv.length !== 12) throw new ValidationError('a sealing nonce must be 12 bytes');
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ct = cipher.update(value, 'utf8');
  const last = cipher.final(); // empty for GCM: no copy in the usual case
  const body = last.length === 0 ? ct : Buffer.concat([ct, last]);
  return `${SEALED_PREFIX}.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${body.toString('base64url')}`;
}

export function openSealedValue(sealed: string, key: Uint8Array): string {
  checkAesKey(key);
  const parts = sealed.split('.');
  if (parts.length !== 4 || parts[0] !== SEALED_PREFIX) throw new ValidationError('not a sealed value (expected v1.<iv>.<tag>.<ciphertext>)', 'invalid_sealed_value');
  const iv = Buffer.from(parts[1]!, 'base64url');
  const tag = Buffer.from(parts[2]!, 'base64url');
  if (iv.length !== 12 || tag.length !== 16) throw new ValidationError('sealed value has a malformed nonce or tag', 'invalid_sealed_value');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(parts[3]!, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new ValidationError('sealed value does not open with this key (wrong key or altered record)', 'invalid_sealed_value');
  }
}

export interface AuditKeys {
  hmacKey: Uint8Array;
  encryptionKey: Uint8Array;
}

/**
 * The audit keys from the one secret kept beside the database, one per purpose (HKDF-SHA256):
 * whoever seals and whoever opens derive them the same way.
 *
 * @example
 * openSealedValue(row.valueSealed, deriveAuditKeys(secret).encryptionKey);
 */
export function deriveAuditKeys(secret: Uint8Array): AuditKeys {
  const derive = (info: string) => new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), info, 32));
  return { hmacKey: derive('iron-cage pii hmac v1'), encryptionKey: derive('iron-cage pii seal v1') };
}

/** What an audit row says about one finding; the plaintext value is not among the fields. */
export interface PiiAuditFields {
  type: PiiType;
  risk: Risk;
  severity: Severity;
  confidence: number;
  start: number;
  end: number;
  valueHash: string;
  sealedValue: string;
}

export function auditFields(d: Detection, keys: AuditKeys, policy?: SafetyPolicy): PiiAuditFields {
  return {
    type: d.type,
    risk: d.risk,
    severity: severityFor(d.type, policy),
    confidence: d.confidence,
    start: d.start,
    end: d.end,
    valueHash: hmacValue(normalizeValue(d.type, d.value), keys.hmacKey),
    sealedValue: sealValue(d.value, keys.encryptionKey),
  };
}
