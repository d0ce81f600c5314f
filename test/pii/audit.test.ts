import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { hmacValue, normalizeValue, openSealedValue, sealValue } from '../../src/domain/pii/audit.js';
import { auditFields, scan } from '../../src/domain/pii/index.js';

const hmacKey = randomBytes(32);
const encryptionKey = randomBytes(32);

describe('keyed hash of a value', () => {
  it('is HMAC-SHA256 in hex (RFC 4231 test case 1)', () => {
    expect(hmacValue('Hi There', Buffer.alloc(20, 0x0b))).toBe('b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
  });

  it('differs per key, so a hash cannot be matched by hashing guesses without the key', () => {
    expect(hmacValue('ceo@acme.com', hmacKey)).not.toBe(hmacValue('ceo@acme.com', randomBytes(32)));
  });

  it('refuses keys shorter than 16 bytes', () => {
    expect(() => hmacValue('x', Buffer.from('short'))).toThrow(ValidationError);
  });
});

describe('sealed original value', () => {
  it('opens to the original with the same key, including non-ASCII text', () => {
    for (const value of ['ceo@acme.com', 'josé.garcía@correo.es', '+44 20 7946 0958', '']) {
      expect(openSealedValue(sealValue(value, encryptionKey), encryptionKey)).toBe(value);
    }
  });

  it('is self-describing, never contains the plaintext, and uses a fresh nonce each time', () => {
    const a = sealValue('ceo@acme.com', encryptionKey);
    const b = sealValue('ceo@acme.com', encryptionKey);
    expect(a).toMatch(/^v1\.[\w-]{16}\.[\w-]{22}\.[\w-]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('ceo');
  });

  it('refuses a wrong key, an altered record and a malformed string', () => {
    const sealed = sealValue('4111 1111 1111 1111', encryptionKey);
    expect(() => openSealedValue(sealed, randomBytes(32))).toThrow(/wrong key or altered record/);
    const [v, iv, tag, ct] = sealed.split('.');
    const flipped = `${ct![0] === 'A' ? 'B' : 'A'}${ct!.slice(1)}`;
    expect(() => openSealedValue([v, iv, tag, flipped].join('.'), encryptionKey)).toThrow(ValidationError);
    expect(() => openSealedValue('not-sealed', encryptionKey)).toThrow(/not a sealed value/);
    expect(() => sealValue('x', randomBytes(16))).toThrow(/exactly 32 bytes/);
  });
});

describe('audit fields for a finding', () => {
  it('hold type, risk, severity, location, hash and sealed value, but not the value', () => {
    const [d] = scan('Contact ceo@acme.com');
    const fields = auditFields(d!, { hmacKey, encryptionKey });
    expect(fields).toMatchObject({ type: 'EMAIL', risk: 'HIGH', severity: 'CRITICAL', start: 8, end: 20 });
    expect(JSON.stringify(fields)).not.toContain('ceo@acme.com');
    expect(openSealedValue(fields.sealedValue, encryptionKey)).toBe('ceo@acme.com');
  });

  it('hash the same phone, card or address the same however it was written', () => {
    const hashes = (text: string) => scan(text).map((d) => auditFields(d, { hmacKey, encryptionKey }).valueHash);
    expect(new Set(hashes('(555) 123-4567 and 555.123.4567')).size).toBe(1);
    expect(new Set(hashes('4111 1111 1111 1111 and 4111-1111-1111-1111')).size).toBe(1);
    expect(new Set(hashes('CEO@Acme.com and ceo@acme.com')).size).toBe(1);
    expect(normalizeValue('IBAN', 'de89 3704 0044 0532 0130 00')).toBe('DE89370400440532013000');
  });
});
