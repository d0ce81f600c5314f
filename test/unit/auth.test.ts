import { describe, expect, it, vi } from 'vitest';
import { SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import { generateApiToken } from '../../src/auth/api-tokens.js';
import { AGENT_TOKEN_DEFAULT_TTL_SECONDS, AGENT_TOKEN_MAX_TTL_SECONDS, API_TOKEN_CACHE_MS, TokenService, type Principal } from '../../src/auth/index.js';
import { MissingTokenError, UnauthorizedError } from '../../src/core/errors.js';

const service = () => new TokenService(randomBytes(32));

/** Awaits whatever authenticate gave: a principal, a promise of one, or a synchronous throw. */
async function outcome(f: () => Principal | Promise<Principal>): Promise<Principal | Error> {
  try {
    return await f();
  } catch (e) {
    return e as Error;
  }
}

describe('TokenService.authenticate', () => {
  it('takes the token from Bearer, x-api-key (even repeated) or the ?token= of a WebSocket, in that order of preference', async () => {
    const tokens = service();
    const admin = await tokens.issue({ role: 'admin', name: 'ops' });
    const agent = (await tokens.issueRun({ name: 'lg-1', agentId: 'lg-00000001' })).token;
    expect(await tokens.authenticate({ authorization: `Bearer ${admin}` })).toMatchObject({ role: 'admin', name: 'ops' });
    expect(await tokens.authenticate({ authorization: `bearer   ${agent}  ` })).toMatchObject({ role: 'agent', agentId: 'lg-00000001' });
    expect(await tokens.authenticate({ 'x-api-key': ` ${agent} ` })).toMatchObject({ role: 'agent' });
    expect(await tokens.authenticate({ 'x-api-key': [agent, admin] })).toMatchObject({ role: 'agent' });
    expect(await tokens.authenticate({ authorization: `Bearer ${admin}`, 'x-api-key': agent })).toMatchObject({ role: 'admin' });
    expect(await tokens.authenticate({ authorization: `Bearer ${admin}` }, agent)).toMatchObject({ role: 'agent' });
    // Not a Bearer scheme: the x-api-key is what counts.
    expect(await tokens.authenticate({ authorization: `Basic ${admin}`, 'x-api-key': agent })).toMatchObject({ role: 'agent' });
  });

  it('answers a token it has verified before synchronously (the gateway pays no promise per call)', async () => {
    const tokens = service();
    const agent = (await tokens.issueRun({ name: 'a', agentId: 'ag-00000001' })).token;
    const first = tokens.authenticate({ authorization: `Bearer ${agent}` });
    expect(first).toBeInstanceOf(Promise);
    const p = await first;
    const second = tokens.authenticate({ authorization: `Bearer ${agent}` });
    expect(second).not.toBeInstanceOf(Promise);
    expect(second).toEqual(p);
    tokens.invalidate();
    expect(tokens.authenticate({ authorization: `Bearer ${agent}` })).toBeInstanceOf(Promise);
  });

  it('throws MissingTokenError at once, with the REST message, when no token is sent', () => {
    const tokens = service();
    for (const headers of [{}, { authorization: 'Bearer' }, { authorization: 'Basic abc' }, { 'x-api-key': '   ' }, { authorization: null, 'x-api-key': null }]) {
      let thrown: unknown;
      try {
        tokens.authenticate(headers);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(MissingTokenError);
      expect(thrown).toBeInstanceOf(UnauthorizedError);
      expect(thrown).toMatchObject({ status: 401, code: 'unauthorized', message: 'a token is required: send Authorization: Bearer <token>' });
    }
    expect(() => tokens.authenticate({}, '')).toThrow(MissingTokenError);
  });

  it('rejects bad, foreign, expired, unknown and revoked tokens with the messages the API gives', async () => {
    const tokens = service();
    const foreign = await service().issue({ role: 'admin', name: 'x' });
    const expired = await tokens.issue({ role: 'admin', name: 'x', ttlSeconds: -10 });
    const bad = await outcome(() => tokens.authenticate({ authorization: 'Bearer not-a-jwt' }));
    expect(bad).toBeInstanceOf(UnauthorizedError);
    expect(bad).not.toBeInstanceOf(MissingTokenError);
    expect((bad as Error).message).toBe('token is not valid for this iron-cage');
    expect(((await outcome(() => tokens.authenticate({ authorization: `Bearer ${foreign}` }))) as Error).message).toBe('token is not valid for this iron-cage');
    expect(((await outcome(() => tokens.authenticate({ 'x-api-key': expired }))) as Error).message).toBe('token has expired');

    const live = generateApiToken();
    const revoked = generateApiToken();
    const principal: Principal = { role: 'viewer', agentId: null, name: 'nb', jti: 'tok_1' };
    tokens.resolveApiToken = (hash) => (hash === live.hash ? { principal, revoked: false } : hash === revoked.hash ? { principal, revoked: true } : null);
    expect(await tokens.authenticate({ authorization: `Bearer ${live.token}` })).toEqual(principal);
    expect(((await outcome(() => tokens.authenticate({ authorization: `Bearer ${revoked.token}` }))) as Error).message).toBe('this API token has been revoked');
    expect(((await outcome(() => tokens.authenticate({ authorization: `Bearer ${generateApiToken().token}` }))) as Error).message).toBe('unknown API token');
  });

  it('looks an API token up again after its trust (5 s, or what trustFor says), and never keeps a lookup that a forgetting overtook', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const tokens = service();
      const { token, hash } = generateApiToken();
      const principal: Principal = { role: 'runtime', agentId: null, name: 'rt-1', jti: 'tok_1' };
      let lookups = 0;
      let revoked = false;
      tokens.resolveApiToken = (h) => (lookups++, h === hash ? { principal, revoked } : null);
      const auth = () => outcome(() => tokens.authenticate({ authorization: `Bearer ${token}` }));
      /** `ms` later the token is still good, and has been looked up `n` times in all. */
      const later = async (ms: number, n: number) => {
        vi.advanceTimersByTime(ms);
        expect(await auth()).toEqual(principal);
        expect(lookups).toBe(n);
      };
      expect(await auth()).toEqual(principal);
      await later(API_TOKEN_CACHE_MS - 1, 1);
      await later(1, 2);
      // Told of every revocation: what is looked up next is trusted a minute; what is cached keeps its end.
      tokens.trustFor(60_000);
      await later(API_TOKEN_CACHE_MS - 1, 2);
      await later(1, 3);
      await later(59_999, 3);
      await later(1, 4);
      // No longer told: what was looked up more than 5 s ago is looked up again at once, the rest 5 s after its lookup.
      vi.advanceTimersByTime(API_TOKEN_CACHE_MS);
      tokens.trustFor(API_TOKEN_CACHE_MS);
      await later(0, 5);
      vi.advanceTimersByTime(API_TOKEN_CACHE_MS - 1);
      tokens.trustFor(60_000);
      tokens.trustFor(API_TOKEN_CACHE_MS);
      await later(0, 5);
      await later(1, 6);
      // A lookup under way when the revocation is heard (it read the row before): its answer is not kept.
      tokens.invalidate();
      let answer!: (r: { principal: Principal; revoked: boolean }) => void;
      tokens.resolveApiToken = () => (lookups++, new Promise((r) => (answer = r)));
      const raced = auth();
      await vi.waitFor(() => expect(answer).toBeTypeOf('function'));
      revoked = true;
      tokens.invalidate();
      answer({ principal, revoked: false });
      expect(await raced).toEqual(principal);
      tokens.resolveApiToken = (h) => (lookups++, h === hash ? { principal, revoked } : null);
      expect(((await auth()) as Error).message).toBe('this API token has been revoked');
      expect(lookups).toBe(8);
    } finally {
      vi.useRealTimers();
    }
  });
});

const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString());

describe('agent tokens', () => {
  it('always carry an exp: a day unless asked, never more than the ceiling', async () => {
    const key = randomBytes(32);
    const tokens = new TokenService(key);
    const plain = claims((await tokens.issueRun({ name: 'a', agentId: 'ag-00000001' })).token);
    expect(plain.exp - plain.iat).toBe(AGENT_TOKEN_DEFAULT_TTL_SECONDS);
    const run = await tokens.issueRun({ name: 'a', agentId: 'ag-00000001', ttlSeconds: 7200 });
    expect(claims(run.token).exp - claims(run.token).iat).toBe(7200);
    await expect(tokens.issueRun({ name: 'a', agentId: 'ag-00000001', ttlSeconds: AGENT_TOKEN_MAX_TTL_SECONDS + 1 })).rejects.toThrow(/at most/);
    // Agent tokens are run-bound: none is signed without a run, none without one is accepted.
    await expect(tokens.issue({ role: 'agent', name: 'a', agentId: 'ag-00000001' })).rejects.toThrow(/issueRun/);
    const legacy = await new SignJWT({ role: 'agent', agent: 'ag-00000001', name: 'a' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('iron-cage').setIssuedAt().sign(key);
    await expect(tokens.authenticate({ authorization: `Bearer ${legacy}` })).rejects.toThrow(/not bound to a run/);
    // People's tokens keep their own rules.
    expect(claims(await tokens.issue({ role: 'admin', name: 'ops' })).exp).toBeUndefined();
  });

  it('live exactly their ttl, even when the clock passes a second while one is signed', async () => {
    // Each reading of the clock a millisecond later, from the last one of a second: read twice
    // (iat, then exp), a token lived a second longer than its ttl (a suite under load caught it).
    let now = 1_800_000_000_999;
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => now++);
    try {
      const run = await new TokenService(randomBytes(32)).issueRun({ name: 'a', agentId: 'ag-00000001', ttlSeconds: 7200 });
      expect(claims(run.token).iat).toBe(1_800_000_000);
      expect(claims(run.token).exp).toBe(1_800_000_000 + 7200);
    } finally {
      clock.mockRestore();
    }
  });

  it('of a run are good until the run ends, in this process only, and ending one tells the listeners', async () => {
    const key = randomBytes(32);
    const tokens = new TokenService(key);
    let told = 0;
    tokens.onInvalidate(() => told++);
    const run = await tokens.issueRun({ name: 'a', agentId: 'ag-00000001' });
    const other = await tokens.issueRun({ name: 'b', agentId: 'ag-00000002' });
    expect(await tokens.verify(run.token)).toMatchObject({ role: 'agent', agentId: 'ag-00000001' });
    // Same signing key, another iron-cage process: refused.
    expect(((await outcome(() => new TokenService(key).verify(run.token))) as Error).message).toBe('this agent token belongs to a run of an earlier iron-cage process');
    run.end();
    expect(told).toBe(1);
    expect(((await outcome(() => tokens.authenticate({ authorization: `Bearer ${run.token}` }))) as Error).message).toBe("this agent token's run has ended");
    run.end();
    expect(told).toBe(1);
    expect(await tokens.verify(other.token)).toMatchObject({ agentId: 'ag-00000002' });
  });
});
