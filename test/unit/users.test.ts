import { describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';

// The password check must cost an Argon2id verification whether or not the name exists, so
// neither the answer nor its timing tells a wrong name from a wrong password.
const verified: string[] = [];
vi.mock('@node-rs/argon2', async (importOriginal) => {
  const real = await importOriginal<typeof import('@node-rs/argon2')>();
  return {
    ...real,
    verify: (phc: string, pw: string) => {
      verified.push(phc);
      return real.verify(phc, pw);
    },
  };
});

const { LoginLimiter, TokenService, addUser, wireUsers } = await import('../../src/auth/index.js');
const { PasswordCheck } = await import('../../src/auth/users.js');
const { onSqlite, StateManager, UsersStore } = await import('../../src/state/index.js');
const { tempDir } = await import('../helpers/runtime.js');

const PHC = /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/;

describe('PasswordCheck', () => {
  it('verifies against a hash of the same parameters when the name is unknown or malformed', async () => {
    const { dir, cleanup } = tempDir();
    const state = StateManager.open(join(dir, 's.db'));
    try {
      const users = new UsersStore(onSqlite(state));
      const ann = await addUser(users, { name: 'ann', role: 'viewer', password: 'correct horse battery' });
      const check = new PasswordCheck(users);
      verified.length = 0;
      expect(await check.check('ann', 'correct horse battery')).toEqual(ann);
      expect(await check.check('ann', 'wrong horse battery')).toBeNull();
      expect(await check.check('nobody', 'correct horse battery')).toBeNull();
      expect(await check.check('not a valid name!', 'correct horse battery')).toBeNull();
      expect(verified).toHaveLength(4);
      for (const phc of verified) expect(phc).toMatch(PHC);
      expect(verified[2]).not.toBe(verified[0]); // the dummy, not ann's
      expect(verified[3]).toBe(verified[2]); // computed once
    } finally {
      await state.close();
      cleanup();
    }
  });

  it("refuses a removed user's token on the next verification even when it was cached", async () => {
    const { dir, cleanup } = tempDir();
    const state = StateManager.open(join(dir, 's.db'));
    try {
      const users = new UsersStore(onSqlite(state));
      const tokens = new TokenService(new Uint8Array(32).fill(7));
      wireUsers(tokens, users);
      const ann = await addUser(users, { name: 'ann', role: 'admin', password: 'correct horse battery' });
      const token = await tokens.issue({ role: 'admin', name: 'ann', userId: ann.id, ttlSeconds: 60 });
      expect(await tokens.verify(token)).toMatchObject({ role: 'admin', name: 'ann', userId: ann.id });
      let heard = 0;
      tokens.onInvalidate(() => heard++);
      users.remove('ann');
      tokens.invalidate();
      expect(heard).toBe(1);
      await expect(tokens.verify(token)).rejects.toThrow('this user has been removed');
      // A token naming a user that never existed is no better.
      const forged = await tokens.issue({ role: 'admin', name: 'x', userId: 'user_000000000000' });
      await expect(tokens.verify(forged)).rejects.toThrow('this user has been removed');
    } finally {
      await state.close();
      cleanup();
    }
  });
});

describe('LoginLimiter', () => {
  it('blocks a key after maxFailures within the window, and lets it go when the window ends', () => {
    let now = 1_000_000;
    const l = new LoginLimiter({ maxFailures: 3, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 2; i++) l.fail('ann');
    expect(l.blockedFor('ann')).toBe(0);
    l.fail('ann');
    expect(l.blockedFor('ann')).toBe(60_000);
    expect(l.firstRefusal('ann')).toBe(true);
    expect(l.firstRefusal('ann')).toBe(false);
    expect(l.firstRefusal('bob')).toBe(false);
    now += 45_000;
    expect(l.blockedFor('ann')).toBe(15_000);
    expect(l.blockedFor('bob')).toBe(0);
    now += 15_000;
    expect(l.blockedFor('ann')).toBe(0);
    l.fail('ann');
    expect(l.blockedFor('ann')).toBe(0);
    l.reset('ann');
    expect(l.size).toBe(0);
  });

  it('holds at most maxKeys keys, dropping expired ones first and then the oldest', () => {
    let now = 0;
    const l = new LoginLimiter({ maxFailures: 1, windowMs: 1_000, maxKeys: 100, now: () => now });
    for (let i = 0; i < 50; i++) l.fail(`old${i}`);
    now = 2_000;
    for (let i = 0; i < 10_000; i++) l.fail(`k${i}`);
    expect(l.size).toBeLessThanOrEqual(100);
    expect(l.blockedFor('k9999')).toBeGreaterThan(0);
    expect(l.blockedFor('old0')).toBe(0);
  });
});
