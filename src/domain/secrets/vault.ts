import { randomBytes } from 'node:crypto';
import { SecretTamperedError, WrongMasterKeyError } from '../../core/errors.js';
import { deriveKey, KDF_DEFAULTS, open, parseKdfParams, SALT_BYTES, seal, type KdfParams } from './crypto.js';
import { mask } from './rules.js';

/** A secret as stored: everything but the value in the clear, the value sealed. */
export interface SealedSecret {
  id: string;
  name: string;
  environment: string;
  salt: Buffer;
  nonce: Buffer;
  ciphertext: Buffer;
  /** JSON KdfParams, as stored with the row. */
  kdf: string;
  /** The masked value, sealed under the vault key (lists need no per-secret derivation). */
  maskedSealed: Buffer;
}

/** The vault's check value: its own salt and a GCM encryption of a known constant. */
export interface VaultCheck {
  salt: Buffer;
  nonce: Buffer;
  ciphertext: Buffer;
  kdf: string;
}

const CHECK_PLAINTEXT = Buffer.from('iron-cage vault check v1');
const CHECK_AAD = Buffer.from('iron-cage:vault-check');
const aadOf = (s: Pick<SealedSecret, 'id' | 'name' | 'environment'>) => Buffer.from(JSON.stringify(['secret', s.id, s.name, s.environment]));
const maskAadOf = (s: Pick<SealedSecret, 'id' | 'name' | 'environment'>) => Buffer.from(JSON.stringify(['mask', s.id, s.name, s.environment]));
// masked previews are nonce(12) || ciphertext+tag.
const packMask = (n: Buffer, c: Buffer) => Buffer.concat([n, c]);

/**
 * An unlocked vault: holds the master key for this process only, derives keys off the event
 * loop and caches them (derivation costs tens of ms on purpose; a decrypt after that costs
 * microseconds). Wrong master key and tampered secret are told apart by the check value: a
 * vault exists only once the check value has opened, so any later failure is tampering.
 *
 * @example
 *   const { vault, check } = await Vault.unlock(process.env.IRON_CAGE_MASTER_KEY!, stored ?? null);
 *   const row = await vault.seal({ id: 'secret-1a2b', name: 'OPENAI_API_KEY', environment: 'production' }, 'sk-…');
 *   await vault.open(row); // 'sk-…'
 */
export class Vault {
  private readonly keys = new Map<string, Promise<Buffer>>();
  /** The same keys once derived: the warm path opens without a promise per secret. */
  private readonly ready = new Map<string, Buffer>();

  private constructor(
    private readonly masterKey: string,
    private readonly vaultKey: Buffer,
    readonly check: VaultCheck,
    private readonly params: KdfParams,
  ) {}

  /**
   * Open the vault with `masterKey`. With no stored check value (a new vault) one is made and
   * returned for the caller to store. Throws WrongMasterKeyError when the check does not open.
   */
  static async unlock(masterKey: string, stored: VaultCheck | null, params: KdfParams = KDF_DEFAULTS): Promise<{ vault: Vault; created: boolean }> {
    if (masterKey.length === 0) throw new WrongMasterKeyError('the master key is empty');
    if (stored) {
      const p = parseKdfParams(stored.kdf);
      if (!p) throw new WrongMasterKeyError('the vault check value has unreadable key-derivation parameters');
      const key = await deriveKey(masterKey, stored.salt, p);
      const plain = open(key, { nonce: stored.nonce, ciphertext: stored.ciphertext }, CHECK_AAD);
      if (!plain?.equals(CHECK_PLAINTEXT)) throw new WrongMasterKeyError();
      return { vault: new Vault(masterKey, key, stored, params), created: false };
    }
    const salt = randomBytes(SALT_BYTES);
    const key = await deriveKey(masterKey, salt, params);
    const s = seal(key, CHECK_PLAINTEXT, CHECK_AAD);
    return { vault: new Vault(masterKey, key, { salt, nonce: s.nonce, ciphertext: s.ciphertext, kdf: JSON.stringify(params) }, params), created: true };
  }

  private key(salt: Buffer, params: KdfParams): Buffer | Promise<Buffer> {
    const id = `${salt.toString('hex')}:${params.m}:${params.t}:${params.p}`;
    const hit = this.ready.get(id);
    if (hit) return hit;
    let k = this.keys.get(id);
    if (!k) {
      k = deriveKey(this.masterKey, salt, params);
      k.then(
        (key) => this.ready.set(id, key),
        // A failed derivation must not poison the cache.
        () => this.keys.delete(id),
      );
      this.keys.set(id, k);
    }
    return k;
  }

  /** Seal `value` for the row `who` with a fresh salt and nonce. */
  async seal(who: Pick<SealedSecret, 'id' | 'name' | 'environment'>, value: string): Promise<SealedSecret> {
    const salt = randomBytes(SALT_BYTES);
    const key = await this.key(salt, this.params);
    const s = seal(key, Buffer.from(value, 'utf8'), aadOf(who));
    const m = seal(this.vaultKey, Buffer.from(mask(value), 'utf8'), maskAadOf(who));
    return { ...who, salt, nonce: s.nonce, ciphertext: s.ciphertext, kdf: JSON.stringify(this.params), maskedSealed: packMask(m.nonce, m.ciphertext) };
  }

  /** The value, with the parameters read back from the row. Throws SecretTamperedError, never returns garbage. */
  async open(row: SealedSecret): Promise<string> {
    const params = parseKdfParams(row.kdf);
    if (!params || row.salt.length !== SALT_BYTES) throw new SecretTamperedError(row.name);
    const k = this.key(row.salt, params);
    const plain = open(k instanceof Promise ? await k : k, { nonce: row.nonce, ciphertext: row.ciphertext }, aadOf(row));
    if (!plain) throw new SecretTamperedError(row.name);
    return plain.toString('utf8');
  }

  /** The masked preview (4+3 characters at most), opened with the vault key: no derivation per row. */
  masked(row: Pick<SealedSecret, 'id' | 'name' | 'environment' | 'maskedSealed'>): string {
    const b = row.maskedSealed;
    const plain = b.length > 12 ? open(this.vaultKey, { nonce: b.subarray(0, 12), ciphertext: b.subarray(12) }, maskAadOf(row)) : null;
    if (!plain) throw new SecretTamperedError(row.name);
    return plain.toString('utf8');
  }

  /** How many derived keys this process holds (for the benchmark and tests). */
  get cachedKeys(): number {
    return this.keys.size;
  }
}
