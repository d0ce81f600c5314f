import { describe, expect, it } from 'vitest';
import { SecretTamperedError, ValidationError, WrongMasterKeyError } from '../../src/core/errors.js';
import { checkName, checkValue, KDF_DEFAULTS, mask, parseKdfParams, Vault, type SealedSecret } from '../../src/domain/secrets/index.js';

const who = { id: 'secret-0a1b2c3d', name: 'OPENAI_API_KEY', environment: 'production' };
const VALUE = 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789';

const flip = (b: Buffer, i = 0): Buffer => {
  const c = Buffer.from(b);
  c[i] = c[i]! ^ 0x01;
  return c;
};

describe('Vault', () => {
  it('round-trips a value and stores nothing of it in the clear', async () => {
    const { vault, created } = await Vault.unlock('correct horse battery staple', null);
    expect(created).toBe(true);
    const row = await vault.seal(who, VALUE);
    expect(row.salt.length).toBe(16);
    expect(row.nonce.length).toBe(12);
    expect(Buffer.concat([row.salt, row.nonce, row.ciphertext, row.maskedSealed]).includes(Buffer.from('abcdefghij'))).toBe(false);
    expect(await vault.open(row)).toBe(VALUE);
    expect(vault.masked(row)).toBe('sk-p...789');
    // Unicode survives.
    const u = await vault.seal(who, 'pässwörd-😀-ünïcode');
    expect(await vault.open(u)).toBe('pässwörd-😀-ünïcode');
  });

  it('uses a fresh salt and nonce per secret', async () => {
    const { vault } = await Vault.unlock('k', null);
    const a = await vault.seal(who, VALUE);
    const b = await vault.seal(who, VALUE);
    expect(a.salt.equals(b.salt)).toBe(false);
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
  });

  it('reads the Argon2id parameters back from the row, not from its defaults', async () => {
    const light = { alg: 'argon2id' as const, m: 8192, t: 1, p: 1, len: 32 };
    const first = await Vault.unlock('master', null, light);
    const row = await first.vault.seal(who, VALUE);
    expect(parseKdfParams(row.kdf)).toEqual(light);
    // A second process with the default parameters still opens it (it derives with m=8192, t=1).
    const again = await Vault.unlock('master', first.vault.check);
    expect(await again.vault.open(row)).toBe(VALUE);
    expect(parseKdfParams(again.vault.check.kdf)).toEqual(light);
    expect(JSON.parse((await again.vault.seal(who, 'x'.repeat(20))).kdf)).toEqual(KDF_DEFAULTS);
    // Edited parameters are tampering, not a different key.
    await expect(again.vault.open({ ...row, kdf: JSON.stringify({ ...light, t: 2 }) })).rejects.toBeInstanceOf(SecretTamperedError);
    await expect(again.vault.open({ ...row, kdf: JSON.stringify({ ...light, m: 4 * 1024 * 1024 }) })).rejects.toBeInstanceOf(SecretTamperedError);
  });

  it('tells a wrong master key apart from a tampered secret', async () => {
    const { vault } = await Vault.unlock('right key', null);
    await expect(Vault.unlock('wrong key', vault.check)).rejects.toBeInstanceOf(WrongMasterKeyError);
    await expect(Vault.unlock('', vault.check)).rejects.toBeInstanceOf(WrongMasterKeyError);
    const ok = await Vault.unlock('right key', vault.check);
    expect(ok.created).toBe(false);
  });

  it('refuses every changed byte with SecretTamperedError, never garbage', async () => {
    const { vault } = await Vault.unlock('k2', null);
    const row = await vault.seal(who, VALUE);
    const cases: Array<[string, SealedSecret]> = [
      ['ciphertext', { ...row, ciphertext: flip(row.ciphertext, 3) }],
      ['tag', { ...row, ciphertext: flip(row.ciphertext, row.ciphertext.length - 1) }],
      ['nonce', { ...row, nonce: flip(row.nonce) }],
      ['salt', { ...row, salt: flip(row.salt) }],
      ['AAD: id', { ...row, id: 'secret-ffffffff' }],
      ['AAD: name', { ...row, name: 'OTHER_KEY' }],
      ['AAD: environment', { ...row, environment: 'development' }],
      ['truncated', { ...row, ciphertext: row.ciphertext.subarray(0, 10) }],
    ];
    for (const [what, bad] of cases) {
      const err = await vault.open(bad).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, what).toBeInstanceOf(SecretTamperedError);
      expect(String((err as Error).message)).not.toContain('abcdef');
    }
    // A blob copied onto another row fails too.
    const other = await vault.seal({ ...who, id: 'secret-99999999', name: 'OTHER' }, 'other-value-123456');
    await expect(vault.open({ ...other, salt: row.salt, nonce: row.nonce, ciphertext: row.ciphertext, kdf: row.kdf })).rejects.toBeInstanceOf(SecretTamperedError);
    expect(() => vault.masked({ ...row, maskedSealed: flip(row.maskedSealed, 20) })).toThrow(SecretTamperedError);
  });

  it('caches derived keys: a second open derives nothing new', async () => {
    const { vault } = await Vault.unlock('k3', null);
    const row = await vault.seal(who, VALUE);
    const n = vault.cachedKeys;
    await vault.open(row);
    await vault.open(row);
    expect(vault.cachedKeys).toBe(n);
  });
});

describe('rules', () => {
  it('masks at most 4 leading and 3 trailing characters, short values fully', () => {
    expect(mask('sk-proj-abc123xyz')).toBe('sk-p...xyz');
    expect(mask('12345678901')).toBe('********');
    expect(mask('123456789012')).toBe('1234...012');
    expect(mask('a')).toBe('********');
  });
  it('checks names and values precisely', () => {
    expect(checkName('OPENAI_API_KEY')).toBe('OPENAI_API_KEY');
    expect(checkName('_X1')).toBe('_X1');
    for (const bad of ['lower', '1ABC', 'A-B', '', 'A'.repeat(129), '../X', 42]) expect(() => checkName(bad), String(bad)).toThrow(ValidationError);
    expect(checkName('A'.repeat(128))).toHaveLength(128);
    expect(checkValue('x'.repeat(64 * 1024))).toHaveLength(64 * 1024);
    expect(() => checkValue('x'.repeat(64 * 1024 + 1))).toThrow(/at most 65536 bytes/);
    expect(() => checkValue('é'.repeat(32 * 1024 + 1))).toThrow(/at most 65536 bytes/);
    expect(() => checkValue(12)).toThrow(/must be a string/);
    expect(() => checkValue('a\0b')).toThrow(/NUL/);
    expect(() => checkValue('bad\uD800x')).toThrow(/UTF-8/);
  });
});
