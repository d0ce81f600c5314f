import type { Algorithm } from '@node-rs/argon2';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

// The vault's primitives: Argon2id key derivation and AES-256-GCM. Pure functions of their
// inputs (and the random source); no storage, no state.

/** Argon2id parameters, stored beside every blob so a later change of defaults still opens old rows. */
export interface KdfParams {
  alg: 'argon2id';
  /** Memory in KiB. */
  m: number;
  /** Passes. */
  t: number;
  /** Lanes. */
  p: number;
  /** Output bytes. */
  len: number;
}

/** OWASP's Argon2id minimum (m=19 MiB, t=2, p=1): tens of milliseconds per derivation, by design. */
export const KDF_DEFAULTS: KdfParams = Object.freeze({ alg: 'argon2id', m: 19456, t: 2, p: 1, len: 32 });

export const SALT_BYTES = 16;
export const NONCE_BYTES = 12;
const TAG_BYTES = 16;
// `const enum` in the binding's typings: esbuild cannot inline it across packages.
const ARGON2ID = 2 as Algorithm;

/**
 * Parse stored parameters, refusing anything but sane Argon2id ones: a row edited to ask for
 * 4 GiB of memory must fail as tampered, not take the process down.
 */
export function parseKdfParams(text: string): KdfParams | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  const o = v as Partial<KdfParams> | null;
  if (o?.alg !== 'argon2id' || !withinKdfBounds(o.m, o.t, o.p) || o.len !== 32) return null;
  return { alg: 'argon2id', m: o.m!, t: o.t!, p: o.p!, len: 32 };
}

/**
 * The Argon2id cost a stored parameter set may ask for (memory 8-256 MiB, 1-10 passes, 1-8
 * lanes), whatever it protects (a vault row, a user's password hash): storage is not trusted
 * to choose how many gigabytes and minutes one check takes.
 */
function withinKdfBounds(m: unknown, t: unknown, p: unknown): boolean {
  const int = (n: unknown, lo: number, hi: number) => Number.isInteger(n) && (n as number) >= lo && (n as number) <= hi;
  return int(m, 8 * 1024, 256 * 1024) && int(t, 1, 10) && int(p, 1, 8);
}

/**
 * Whether a stored password hash (an Argon2id PHC string, `$argon2id$v=19$m=19456,t=2,p=1$…`)
 * is one to verify: Argon2id, version 19, its cost within the same bounds as the vault's.
 *
 * @example
 *   verifiablePasswordHash('$argon2id$v=19$m=4194304,t=1000,p=1$c2FsdA$aGFzaA') // false
 */
export function verifiablePasswordHash(phc: string): boolean {
  const m = /^\$argon2id\$v=19\$m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,3})\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/.exec(phc);
  return m !== null && withinKdfBounds(Number(m[1]), Number(m[2]), Number(m[3]));
}

/** Argon2id off the event loop (the binding runs it on libuv's thread pool; loaded by the first key derived). */
export async function deriveKey(masterKey: string, salt: Uint8Array, params: KdfParams): Promise<Buffer> {
  const { hashRaw } = await import('@node-rs/argon2');
  return hashRaw(masterKey, { algorithm: ARGON2ID, memoryCost: params.m, timeCost: params.t, parallelism: params.p, outputLen: params.len, salt });
}

export interface Sealed {
  nonce: Buffer;
  /** Ciphertext followed by the 16-byte GCM tag. */
  ciphertext: Buffer;
}

/** AES-256-GCM with a fresh random nonce; `aad` binds the blob to where it belongs. */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Sealed {
  const nonce = randomBytes(NONCE_BYTES);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  const body = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  return { nonce, ciphertext: body };
}

/** The plaintext, or null when the tag does not verify (wrong key, or any byte changed). */
export function open(key: Buffer, s: Sealed, aad: Buffer): Buffer | null {
  if (s.nonce.length !== NONCE_BYTES || s.ciphertext.length < TAG_BYTES) return null;
  try {
    const d = createDecipheriv('aes-256-gcm', key, s.nonce);
    d.setAAD(aad);
    d.setAuthTag(s.ciphertext.subarray(s.ciphertext.length - TAG_BYTES));
    return Buffer.concat([d.update(s.ciphertext.subarray(0, s.ciphertext.length - TAG_BYTES)), d.final()]);
  } catch {
    return null;
  }
}
