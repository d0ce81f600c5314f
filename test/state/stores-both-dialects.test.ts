import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiTokenRow, NewApiTokenRow } from '../../src/state/runtime/tokens.store.js';
import type { LinkRefusal } from '../../src/state/runtime/tokens.store.js';
import type { UserRow, UserView } from '../../src/state/runtime/users.store.js';
import type { Principal } from '../../src/core/roles.js';
import { VaultService } from '../../src/secrets/index.js';
import { openPostgres, PgSecretsStore, PgTokensStore, PgUsersStore, SecretsStore, StateManager, TokensStore, UsersStore, type Postgres } from '../../src/state/index.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// The stores a runtime (SQLite) and a control panel (PostgreSQL) both have, users and tokens,
// held to the same cases on both dialects: the same rows come back, the same rules refuse the
// same things. (The SQLite stores write through the runtime's writer with an event; the panel's
// are async: each dialect is wrapped once, below, and every case runs on both.)

interface Stores {
  users: {
    add(row: Pick<UserRow, 'id' | 'name' | 'role' | 'passwordHash'>): Promise<UserView>;
    remove(name: string): Promise<UserView | null>;
    liveByName(name: string): Promise<UserRow | null>;
    byId(id: string): Promise<UserView | null>;
    list(o?: { removed?: boolean }): Promise<UserView[]>;
  };
  tokens: {
    add(row: NewApiTokenRow): Promise<void>;
    byHash(hash: string): Promise<ApiTokenRow | null>;
    exchangeLink(hash: string, now: Date, session: NewApiTokenRow): Promise<LinkRefusal | null>;
    endLinks(now: Date): Promise<void>;
    list(now?: Date): Promise<ApiTokenRow[]>;
  };
  close(): Promise<void>;
}

function sqliteStores(): Stores {
  const state = StateManager.open(':memory:');
  const users = new UsersStore(state);
  const tokens = new TokensStore(state);
  const event = { agentId: null, type: 'auth.session_opened' as const, severity: 'info' as const, message: 'session opened', data: {} };
  return {
    users: {
      add: async (r) => users.add(r),
      remove: async (n) => users.remove(n),
      liveByName: async (n) => users.liveByName(n),
      byId: async (id) => users.byId(id),
      list: async (o) => users.list(o),
    },
    tokens: {
      add: async (r) => tokens.add(r),
      byHash: async (h) => tokens.byHash(h),
      exchangeLink: async (h, now, s) => tokens.exchangeLink(h, now, s, event as never),
      endLinks: async (now) => tokens.endLinks(now),
      list: async (now) => tokens.list(now),
    },
    close: async () => void (await state.close()),
  };
}

let server: TestPostgres;
const opened: Postgres[] = [];
let databases = 0;

async function pgStores(): Promise<Stores> {
  const pg = await openPostgres(await server.createDatabase(`stores_${++databases}`));
  opened.push(pg);
  const users = new PgUsersStore(pg.db);
  const tokens = new PgTokensStore(pg.db);
  return {
    users: { add: (r) => users.add(r), remove: (n) => users.remove(n), liveByName: (n) => users.liveByName(n), byId: (id) => users.byId(id), list: (o) => users.list(o) },
    tokens: {
      add: (r) => tokens.add(r),
      byHash: (h) => tokens.byHash(h),
      exchangeLink: (h, now, s) => tokens.exchangeLink(h, now, s),
      endLinks: (now) => tokens.endLinks(now),
      list: (now) => tokens.list(now),
    },
    close: () => pg.close(),
  };
}

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server?.destroy();
});

const NOW = new Date('2026-11-23T12:00:00.000Z');
const token = (o: Partial<NewApiTokenRow> & Pick<NewApiTokenRow, 'id' | 'hash'>): NewApiTokenRow => ({
  name: o.id,
  role: 'admin',
  agentId: null,
  createdAt: NOW.toISOString(),
  revokedAt: null,
  kind: 'api',
  expiresAt: null,
  ...o,
});

describe.each([
  ['SQLite', async () => sqliteStores()],
  ['PostgreSQL', () => pgStores()],
] as const)('users and tokens on %s', (_dialect, open) => {
  let s: Stores;
  beforeAll(async () => {
    s = await open();
  });
  afterAll(() => s?.close());

  it('users: one live user per name, removal is soft and frees the name', async () => {
    const ana = await s.users.add({ id: 'user_a1', name: 'ana', role: 'admin', passwordHash: '$argon2id$x' });
    expect(ana).toMatchObject({ id: 'user_a1', name: 'ana', role: 'admin', removedAt: null });
    expect(ana).not.toHaveProperty('passwordHash');
    await expect(s.users.add({ id: 'user_a2', name: 'ana', role: 'viewer', passwordHash: '$argon2id$y' })).rejects.toThrow("a user named 'ana' already exists");
    expect((await s.users.liveByName('ana'))?.passwordHash).toBe('$argon2id$x');
    const removed = await s.users.remove('ana');
    expect(removed?.removedAt).toEqual(expect.any(String));
    expect(await s.users.remove('ana')).toBeNull();
    expect(await s.users.liveByName('ana')).toBeNull();
    expect((await s.users.byId('user_a1'))?.removedAt).toEqual(removed?.removedAt);
    await s.users.add({ id: 'user_a3', name: 'ana', role: 'viewer', passwordHash: '$argon2id$z' });
    expect((await s.users.list()).map((u) => u.id)).toEqual(['user_a3']);
    expect((await s.users.list({ removed: true })).map((u) => u.id).sort()).toEqual(['user_a1', 'user_a3']);
  });

  it('tokens: found by hash; a login link opens one session, once, before it expires; a start ends the links left', async () => {
    await s.tokens.add(token({ id: 'tok_api', hash: 'h-api' }));
    expect(await s.tokens.byHash('h-api')).toMatchObject({ id: 'tok_api', kind: 'api', revokedAt: null, runtimeId: null });
    expect(await s.tokens.byHash('h-none')).toBeNull();

    const soon = new Date(NOW.getTime() + 15 * 60_000).toISOString();
    await s.tokens.add(token({ id: 'tok_link', hash: 'h-link', kind: 'link', expiresAt: soon }));
    const session = token({ id: 'tok_session', hash: 'h-session', kind: 'session', expiresAt: soon });
    expect(await s.tokens.exchangeLink('h-nope', NOW, session)).toBe('unknown');
    expect(await s.tokens.exchangeLink('h-link', NOW, session)).toBeNull();
    expect(await s.tokens.byHash('h-session')).toMatchObject({ kind: 'session', revokedAt: null });
    expect((await s.tokens.byHash('h-link'))?.revokedAt).toEqual(expect.any(String));
    expect(await s.tokens.exchangeLink('h-link', NOW, { ...session, id: 'tok_s2', hash: 'h-s2' })).toBe('used');
    expect(await s.tokens.byHash('h-s2')).toBeNull();

    await s.tokens.add(token({ id: 'tok_old', hash: 'h-old', kind: 'link', expiresAt: NOW.toISOString() }));
    expect(await s.tokens.exchangeLink('h-old', NOW, { ...session, id: 'tok_s3', hash: 'h-s3' })).toBe('expired');

    await s.tokens.add(token({ id: 'tok_left', hash: 'h-left', kind: 'link', expiresAt: soon }));
    await s.tokens.endLinks(NOW);
    expect(await s.tokens.exchangeLink('h-left', NOW, { ...session, id: 'tok_s4', hash: 'h-s4' })).not.toBeNull();
    expect((await s.tokens.byHash('h-api'))?.revokedAt).toBeNull();
  });

  it('keeps a panel runtime token’s runtime id', async () => {
    await s.tokens.add(token({ id: 'tok_rt', hash: 'h-rt', kind: 'runtime', role: 'runtime', runtimeId: 'laptop-ana' }));
    expect(await s.tokens.byHash('h-rt')).toMatchObject({ kind: 'runtime', runtimeId: 'laptop-ana' });
  });
});

// The vault: one VaultService over either store (the runtime's SQLite, the panel's PostgreSQL),
// the same rules and the same audit rows on both.
describe.each([
  ['SQLite', async () => new SecretsStore(StateManager.open(':memory:'))],
  [
    'PostgreSQL',
    async () => {
      const pg = await openPostgres(await server.createDatabase(`vault_${++databases}`));
      opened.push(pg);
      return new PgSecretsStore(pg.db);
    },
  ],
] as const)('the vault on %s', (_dialect, open) => {
  const admin: Principal = { role: 'admin', agentId: null, name: 'ana', jti: '' };
  const runtime: Principal = { role: 'runtime', agentId: null, name: 'runtime r1', jti: 'tok_1', runtimeId: 'r1' };

  it('seals, refuses a duplicate and a stale change, reads for a runtime in scope only, and audits who did what', async () => {
    const store = await open();
    const vault = await VaultService.open({ store }, 'both-dialects-master-key-0123456789');
    expect(vault.status).toBe('unlocked');
    // A second opening with the same key opens the check value the first stored; another key does not.
    expect((await VaultService.open({ store }, 'both-dialects-master-key-0123456789')).status).toBe('unlocked');
    expect((await VaultService.open({ store }, 'another-master-key-0123456789')).status).toBe('wrong_master_key');

    const made = await vault.create(admin, { name: 'OPENAI_API_KEY', value: 'sk-both-dialects-0001' });
    expect(made).toMatchObject({ name: 'OPENAI_API_KEY', environment: 'development', maskedValue: 'sk-b...001' });
    await expect(vault.create(admin, { name: 'OPENAI_API_KEY', value: 'sk-again-000000' })).rejects.toThrow('a secret named OPENAI_API_KEY already exists in environment development');
    await expect(vault.update(admin, made.id, { value: 'sk-stale-0000000', expectedUpdatedAt: '2020-01-01T00:00:00.000Z' })).rejects.toMatchObject({ status: 409, code: 'stale' });
    await vault.create(admin, { name: 'CRM_TOKEN', value: 'crm-both-dialects' });

    const first = await vault.runtimeRead(runtime, { names: ['OPENAI_API_KEY'], environment: 'development', scope: ['OPENAI_*'] });
    expect(first.notModified).toBe(false);
    expect(first.secrets?.OPENAI_API_KEY?.value).toBe('sk-both-dialects-0001');
    expect((await vault.runtimeRead(runtime, { names: ['OPENAI_API_KEY'], environment: 'development', scope: ['OPENAI_*'], ifNoneMatch: first.etag })).notModified).toBe(true);
    await expect(vault.runtimeRead(runtime, { names: ['CRM_TOKEN'], environment: 'development', scope: ['OPENAI_*'] })).rejects.toMatchObject({ status: 403 });
    await expect(vault.runtimeRead(runtime, { names: ['OPENAI_ORG'], environment: 'development', scope: ['OPENAI_*'] })).rejects.toMatchObject({ status: 404 });
    await expect(vault.runtimeRead(admin, { names: ['OPENAI_API_KEY'], environment: 'development', scope: ['*'] })).rejects.toMatchObject({ status: 403 });

    // A rotation changes the version: the runtime's ETag no longer holds.
    await vault.update(admin, made.id, { value: 'sk-both-dialects-0002' });
    const next = await vault.runtimeRead(runtime, { names: ['OPENAI_API_KEY'], environment: 'development', scope: ['OPENAI_*'], ifNoneMatch: first.etag });
    expect(next.notModified).toBe(false);
    expect(next.secrets?.OPENAI_API_KEY?.value).toBe('sk-both-dialects-0002');
    expect(next.secrets?.OPENAI_API_KEY?.version).not.toBe(first.secrets?.OPENAI_API_KEY?.version);

    await vault.remove(admin, made.id);
    expect((await vault.list(admin)).map((s) => s.name)).toEqual(['CRM_TOKEN']);
    const log = (await vault.auditLog(admin, { limit: 100 })).map((r) => `${r.operation} ${r.secretName} ${r.requesterRole}:${r.requester} ${r.success}`);
    expect(log).toEqual([
      'CREATE OPENAI_API_KEY admin:ana true',
      'CREATE OPENAI_API_KEY admin:ana false',
      'UPDATE OPENAI_API_KEY admin:ana false',
      'CREATE CRM_TOKEN admin:ana true',
      'READ OPENAI_API_KEY runtime:runtime r1 true',
      'DENIED CRM_TOKEN runtime:runtime r1 false',
      'READ null runtime:runtime r1 false',
      'DENIED null admin:ana false',
      'UPDATE OPENAI_API_KEY admin:ana true',
      'READ OPENAI_API_KEY runtime:runtime r1 true',
      'DELETE OPENAI_API_KEY admin:ana true',
    ]);
    expect(JSON.stringify(await vault.auditLog(admin, { limit: 100 }))).not.toContain('sk-both-dialects');
  });
});
