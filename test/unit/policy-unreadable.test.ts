import { describe, expect, it } from 'vitest';
import { policiesSchema, policySet } from '../../src/config/policies.js';
import { firstMatch, needsArgs, type CallArgs, type PolicyCall } from '../../src/domain/policy/index.js';

// Hardening, fourth round (A), the rule language's part: a rule whose argument conditions cannot
// be read is not a rule that passes. It fails closed: deny and approve apply (saying why), an
// allow grants nothing (the next rule or the default decides) though its rate still counts.

describe('a rule whose argument conditions cannot be read', () => {
  const set = policySet(
    policiesSchema.parse([
      { name: 'search-rate', match: { tool: 'search.*', args: { q: { exists: true } } }, rate: '1/min' },
      { name: 'trusted', match: { tool: 'email.send', args: { to: { endswith: '@acme.example' } } }, action: 'allow' },
      { name: 'outside', match: { tool: 'email.send', args: { to: { not_endswith: '@acme.example' } } }, action: 'deny' },
      { name: 'big', match: { tool: 'pay.*', args: { amount: { gt: 1000 } } }, action: 'approve' },
    ]),
  );
  const call = (service: string, tool: string): PolicyCall => ({ kind: 'http', agentId: 'ag-1', agentName: 'writer', service, tool, method: 'POST' });
  const unreadable: CallArgs = { readable: false, why: 'its gzip body does not decompress' };

  it('applies when it denies or asks for approval, saying why', () => {
    const m = firstMatch(set.rules, call('email', 'send'), () => unreadable);
    // `trusted` allows nothing it cannot read; `outside` denies what it cannot read.
    expect(m).toMatchObject({ rule: { label: 'outside' }, unreadable: 'its gzip body does not decompress' });
    expect(firstMatch(set.rules, call('pay', 'out'), () => unreadable)).toMatchObject({ rule: { label: 'big', action: 'approve' }, unreadable: expect.any(String) });
  });

  it('allows nothing, and the default decides, knowing why; its rate still counts', () => {
    const taken: string[] = [];
    const count = (r: { label: string }) => {
      taken.push(r.label);
      return null;
    };
    const m = firstMatch(set.rules, call('search', 'q'), () => unreadable, count);
    expect(m).toEqual({ rule: null, overRateMs: null, unreadable: 'its gzip body does not decompress' });
    expect(taken).toEqual(['search-rate']);
    expect(
      firstMatch(
        set.rules,
        call('search', 'q'),
        () => unreadable,
        () => 30_000,
      ),
    ).toMatchObject({ rule: { label: 'search-rate' }, overRateMs: 30_000 });
  });

  it('is read for only when a rule whose names match tests arguments', () => {
    expect(needsArgs(set.rules, call('email', 'send'))).toBe(true);
    expect(needsArgs(set.rules, call('crm', 'contacts'))).toBe(false);
    expect(firstMatch(set.rules, call('crm', 'contacts'), () => expect.unreachable())).toEqual({ rule: null, overRateMs: null, unreadable: null });
  });
});
