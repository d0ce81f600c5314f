import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { addDetections, decide, emptyProtectionCounters, redact, scan, severityFor, validatePolicy, type SafetyPolicy } from '../../src/domain/pii/index.js';

const text = 'Contact ceo@acme.com or +1 555 123 4567 from 10.0.0.1';

describe('safety modes', () => {
  it('redact (the default) delivers the text with the values replaced and lets the agent continue', () => {
    const decision = decide(scan(text));
    expect(decision.action).toBe('redact');
    expect(decision.redacted.map((d) => d.type)).toEqual(['EMAIL', 'PHONE', 'IP_ADDRESS']);
    const result = redact(text, { policy: { mode: 'redact' } });
    expect(result).toMatchObject({ blocked: false, text: 'Contact [EMAIL_REDACTED] or [PHONE_REDACTED] from [IP_ADDRESS_REDACTED]' });
  });

  it('block refuses the call; anything that is kept is still redacted', () => {
    const policy: SafetyPolicy = { mode: 'block' };
    expect(decide(scan(text), policy)).toMatchObject({ action: 'block', redacted: [], warned: [] });
    const result = redact(text, { policy });
    expect(result.blocked).toBe(true);
    expect(result.text).not.toContain('ceo@acme.com');
  });

  it('warn passes the text through untouched but still reports what it found', () => {
    const policy: SafetyPolicy = { mode: 'warn' };
    const decision = decide(scan(text), policy);
    expect(decision.action).toBe('warn');
    expect(decision.warned).toHaveLength(3);
    expect(redact(text, { policy })).toMatchObject({ text, blocked: false });
  });

  it('per-type overrides win over the mode: block keys, only warn about addresses', () => {
    const policy: SafetyPolicy = { mode: 'redact', perType: { IP_ADDRESS: 'warn', EMAIL: 'block' } };
    const decision = decide(scan(text), policy);
    expect(decision.action).toBe('block');
    expect(decision.blocking.map((d) => d.type)).toEqual(['EMAIL']);
    expect(decision.redacted.map((d) => d.type)).toEqual(['PHONE']);
    expect(decision.warned.map((d) => d.type)).toEqual(['IP_ADDRESS']);
    expect(redact(text, { policy }).text).toBe('Contact [EMAIL_REDACTED] or [PHONE_REDACTED] from 10.0.0.1');
  });

  it('nothing found means allow', () => {
    expect(decide(scan('all clear')).action).toBe('allow');
  });

  it('rejects unknown modes and types with a precise message', () => {
    expect(() => validatePolicy({ mode: 'drop' as never })).toThrow(ValidationError);
    expect(() => validatePolicy({ mode: 'drop' as never })).toThrow(/safety_mode must be one of redact, block, warn/);
    expect(() => validatePolicy({ mode: 'redact', perType: { NAME: 'warn' } as never })).toThrow(/unknown PII type 'NAME'/);
    expect(() => redact('x', { policy: { mode: 'redact', severity: { EMAIL: 'LOUD' as never } } })).toThrow(/CRITICAL, WARN, INFO/);
  });
});

describe('audit severity', () => {
  it('is CRITICAL for e-mail, cards, SSNs and keys and WARN for phones by default, and configurable', () => {
    expect(['EMAIL', 'CREDIT_CARD', 'SSN', 'API_KEY'].map((t) => severityFor(t as never))).toEqual(['CRITICAL', 'CRITICAL', 'CRITICAL', 'CRITICAL']);
    expect(severityFor('PHONE')).toBe('WARN');
    expect(severityFor('PHONE', { mode: 'redact', severity: { PHONE: 'CRITICAL' } })).toBe('CRITICAL');
  });
});

describe('protection counters', () => {
  it('start at zero, with slots for unauthorized actions and prompt injections', () => {
    const c = emptyProtectionCounters();
    expect(c).toMatchObject({ piiLeaksBlocked: 0, piiWarned: 0, unauthorizedActions: 0, promptInjectionAttempts: 0 });
    expect(Object.values(c.piiLeaksBlockedByType).every((n) => n === 0)).toBe(true);
  });

  it('count blocked leaks in total and by type, and warn-mode findings apart, without changing the input', () => {
    const before = emptyProtectionCounters();
    const after = addDetections(before, scan(text), { mode: 'redact', perType: { IP_ADDRESS: 'warn' } });
    expect(after.piiLeaksBlocked).toBe(2);
    expect(after.piiLeaksBlockedByType).toMatchObject({ EMAIL: 1, PHONE: 1, IP_ADDRESS: 0 });
    expect(after.piiWarned).toBe(1);
    expect(before.piiLeaksBlocked).toBe(0);
    expect(addDetections(after, scan('ceo@acme.com')).piiLeaksBlockedByType.EMAIL).toBe(2);
  });
});
