import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { Principal } from '../../src/core/roles.js';
import type { NewEvent } from '../../src/core/events.js';
import { VaultService } from '../../src/secrets/index.js';
import { onPostgres, onSqlite, openPostgres, SecretsStore, StateManager, TokensStore, UsersStore, type Dialect, type Mode, type NewApiTokenRow, type SecretAuditInput } from '../../src/state/index.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// The stores a runtime (SQLite) and a control panel (PostgreSQL) both keep, tokens, users and the
// vault, are one class each over either database (src/state/dialect.ts). One case file holds
// them to the same cases on both, as Hono runs one case file against each of its routers: the
// same rows come back, the same rules refuse the same things, and two callers racing get the
// same outcome. Each call is awaited: SQLite answers at once, PostgreSQL with a promise.

interface Database {
  dialect: Dialect<Mode>;
  /** The types of the events written so far, oldest first, where the database keeps events (a panel keeps none). */
  events: (() => string[]) | null;
  /** PostgreSQL: a connection of its own, outside the stores (to hold a transaction open beside them). */
  connect?: () => Promise<pg.PoolClient>;
  close(): Promise<void>;
}

let server: TestPostgres;
let databases = 0;

const DATABASES: ReadonlyArray<readonly [string, () => Promise<Database>]> = [
  [
    'SQLite',
    async () => {
      const state = StateManager.open(':memory:');
      return {
        dialect: onSqlite(state),
        events: () => state.eventsAfter(0, 1000).map((e) => e.type),
        close: async () => void (await state.close()),
      };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const panelDb = await openPostgres(await server.createDatabase(`stores_${++databases}`));
      return { dialect: onPostgres(panelDb.db), events: null, connect: () => panelDb.pool.connect(), close: () => panelDb.close() };
    },
  ],
];

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server?.destroy();
});

const NOW = new Date('2026-11-23T12:00:00.000Z');
const at = (hours: number) => new Date(NOW.getTime() + hours * 3600_000).toISOString();
const token = (o: Partial<NewApiTokenRow> & Pick<NewApiTokenRow, 'id'>): NewApiTokenRow => ({
  name: o.id,
  hash: `h-${o.id}`,
  role: 'admin',
  agentId: null,
  createdAt: NOW.toISOString(),
  revokedAt: null,
  kind: 'api',
  expiresAt: null,
  ...o,
});
const sessionOpened: NewEvent = { agentId: null, type: 'auth.session_opened', severity: 'info', message: 'session opened', data: {} };
const ids = (rows: Array<{ id: string }>) => rows.map((r) => r.id).sort();

describe.each(DATABASES)('users and tokens on %s', (_name, open) => {
  let db: Database;
  let users: UsersStore;
  let tokens: TokensStore;
  beforeAll(async () => {
    db = await open();
    users = new UsersStore(db.dialect);
    tokens = new TokensStore(db.dialect);
  });
  afterAll(() => db?.close());

  it('users: one live user per name, removal is soft and frees the name; each change announced where events are kept', async () => {
    const ana = await users.add({ id: 'user_a1', name: 'ana', role: 'admin', passwordHash: '$argon2id$x' });
    expect(ana).toMatchObject({ id: 'user_a1', name: 'ana', role: 'admin', removedAt: null });
    expect(ana).not.toHaveProperty('passwordHash');
    await expect(async () => users.add({ id: 'user_a2', name: 'ana', role: 'viewer', passwordHash: '$argon2id$y' })).rejects.toThrow("a user named 'ana' already exists");
    expect((await users.liveByName('ana'))?.passwordHash).toBe('$argon2id$x');
    const removed = await users.remove('ana');
    expect(removed).toMatchObject({ id: 'user_a1', removedAt: expect.any(String) });
    expect(removed).not.toHaveProperty('passwordHash');
    expect(await users.remove('ana')).toBeNull();
    expect(await users.liveByName('ana')).toBeNull();
    expect((await users.byId('user_a1'))?.removedAt).toEqual(removed?.removedAt);
    expect(await users.byId('user_nobody')).toBeNull();
    await users.add({ id: 'user_a3', name: 'ana', role: 'viewer', passwordHash: '$argon2id$z' });
    await users.add({ id: 'user_b1', name: 'bea', role: 'viewer', passwordHash: '$argon2id$w' });
    expect((await users.list()).map((u) => u.id)).toEqual(['user_a3', 'user_b1']);
    expect((await users.list({ removed: true })).map((u) => u.id)).toEqual(['user_a1', 'user_a3', 'user_b1']);
    // The refused add and the remove that found nobody announced nothing.
    if (db.events) expect(db.events().filter((t) => t.startsWith('user.'))).toEqual(['user.added', 'user.removed', 'user.added', 'user.added']);
  });

  it('tokens: found by hash and id; a login link opens one session, once, before it expires', async () => {
    await tokens.add(token({ id: 'tok_api' }));
    expect(await tokens.byHash('h-tok_api')).toMatchObject({ id: 'tok_api', kind: 'api', revokedAt: null, runtimeId: null });
    expect(await tokens.byId('tok_api')).toMatchObject({ hash: 'h-tok_api' });
    expect(await tokens.byHash('h-none')).toBeNull();
    expect(await tokens.byId('tok_none')).toBeNull();

    await tokens.add(token({ id: 'tok_link', kind: 'link', expiresAt: at(0.25) }));
    const session = token({ id: 'tok_session', kind: 'session', expiresAt: at(8) });
    expect(await tokens.exchangeLink('h-nope', NOW, session, sessionOpened)).toBe('unknown');
    expect(await tokens.exchangeLink('h-tok_api', NOW, session, sessionOpened)).toBe('unknown');
    expect(await tokens.exchangeLink('h-tok_link', NOW, session, sessionOpened)).toBeNull();
    expect(await tokens.byHash('h-tok_session')).toMatchObject({ kind: 'session', revokedAt: null });
    expect((await tokens.byHash('h-tok_link'))?.revokedAt).toBe(NOW.toISOString());
    expect(await tokens.exchangeLink('h-tok_link', NOW, token({ id: 'tok_s2', kind: 'session', expiresAt: at(8) }), sessionOpened)).toBe('used');
    expect(await tokens.byHash('h-tok_s2')).toBeNull();

    await tokens.add(token({ id: 'tok_old', kind: 'link', expiresAt: NOW.toISOString() }));
    expect(await tokens.exchangeLink('h-tok_old', NOW, token({ id: 'tok_s3', kind: 'session', expiresAt: at(8) }), sessionOpened)).toBe('expired');
    // Only the exchange that opened a session announced it.
    if (db.events) expect(db.events().filter((t) => t === 'auth.session_opened')).toEqual(['auth.session_opened']);
  });

  it('tokens: of two exchanges of one link at once, one opens a session and the other is told it was used', async () => {
    const links = Array.from({ length: 8 }, (_, i) => `tok_race_${i}`);
    for (const id of links) await tokens.add(token({ id, kind: 'link', expiresAt: at(0.25) }));
    // Connections open before the race (PostgreSQL), so that both exchanges of a link read it before either writes.
    await Promise.all(links.map(async (id) => tokens.byId(id)));
    const outcomes = await Promise.all(
      links.flatMap((id) => ['a', 'b'].map(async (s) => tokens.exchangeLink(`h-${id}`, NOW, token({ id: `${id}_${s}`, kind: 'session', expiresAt: at(8) }), sessionOpened))),
    );
    expect(outcomes.filter((o) => o === null)).toHaveLength(links.length);
    expect(outcomes.filter((o) => o === 'used')).toHaveLength(links.length);
    const opened = await Promise.all(links.flatMap((id) => [`h-${id}_a`, `h-${id}_b`]).map(async (h) => tokens.byHash(h)));
    expect(opened.filter((r) => r !== null)).toHaveLength(links.length);
  });

  it('tokens: a start ends the links not used yet and forgets the links and sessions that ended over a day ago, never an API or runtime token', async () => {
    await tokens.add(token({ id: 'end_live_link', kind: 'link', expiresAt: at(0.25) }));
    await tokens.add(token({ id: 'end_used_link', kind: 'link', expiresAt: at(-47.75), revokedAt: at(-47.9) }));
    await tokens.add(token({ id: 'end_old_session', kind: 'session', expiresAt: at(-30) }));
    await tokens.add(token({ id: 'end_recent_session', kind: 'session', expiresAt: at(8), revokedAt: at(-2) }));
    await tokens.add(token({ id: 'end_revoked_api', revokedAt: at(-48) }));
    await tokens.add(token({ id: 'end_revoked_runtime', kind: 'runtime', role: 'runtime', runtimeId: 'laptop-ana', revokedAt: at(-48) }));
    await tokens.endLinks(NOW);
    const left = await Promise.all(
      ['end_live_link', 'end_used_link', 'end_old_session', 'end_recent_session', 'end_revoked_api', 'end_revoked_runtime'].map(async (id) => [id, await tokens.byId(id)] as const),
    );
    expect(left.filter(([, row]) => row !== null).map(([id]) => id)).toEqual(['end_live_link', 'end_recent_session', 'end_revoked_api', 'end_revoked_runtime']);
    expect((await tokens.byId('end_live_link'))?.expiresAt).toBe(NOW.toISOString());
    expect(await tokens.exchangeLink('h-end_live_link', NOW, token({ id: 'end_s', kind: 'session', expiresAt: at(8) }), sessionOpened)).toBe('expired');
  });

  it('users: a login’s session is added only for a live user; on PostgreSQL a removal in flight is waited for, so it never outlives the user', async () => {
    await users.add({ id: 'user_e1', name: 'eve', role: 'viewer', passwordHash: '$argon2id$e' });
    const session = (id: string) => token({ id, name: 'eve', role: 'viewer', kind: 'session', expiresAt: at(8) });
    expect(await users.openSession('user_e1', session('os_eve_1'))).toBe(true);
    expect(await tokens.byId('os_eve_1')).toMatchObject({ kind: 'session', name: 'eve', revokedAt: null });
    expect(await users.openSession('user_nobody', session('os_nobody'))).toBe(false);
    expect(await tokens.byId('os_nobody')).toBeNull();
    if (db.connect) {
      // The removal's transaction has the user's row when the login's session comes: the session
      // waits for it, then finds the user gone (read without the lock, it would have been added and
      // outlived the removal, which revoked only the sessions it saw).
      const other = await db.connect();
      try {
        await other.query('BEGIN');
        await other.query("UPDATE users SET removed_at = now()::text WHERE id = 'user_e1'");
        let settled = false;
        const opening = Promise.resolve(users.openSession('user_e1', session('os_eve_2'))).finally(() => {
          settled = true;
        });
        await new Promise((r) => setTimeout(r, 300));
        expect(settled).toBe(false);
        await other.query('COMMIT');
        expect(await opening).toBe(false);
        expect(await tokens.byId('os_eve_2')).toBeNull();
      } finally {
        other.release();
      }
    } else {
      // SQLite: one writer, no transaction in between; a removed user gets none.
      await users.remove('eve');
      expect(await users.openSession('user_e1', session('os_eve_2'))).toBe(false);
    }
  });

  it('tokens: the list holds API and runtime tokens and live sessions, oldest first, never a link or an expired session', async () => {
    await tokens.add(token({ id: 'list_api', createdAt: at(-3) }));
    await tokens.add(token({ id: 'list_runtime', kind: 'runtime', role: 'runtime', runtimeId: 'laptop-bea', createdAt: at(-2) }));
    await tokens.add(token({ id: 'list_session', kind: 'session', expiresAt: at(1), createdAt: at(-1) }));
    await tokens.add(token({ id: 'list_expired', kind: 'session', expiresAt: at(-0.5), createdAt: at(-1) }));
    await tokens.add(token({ id: 'list_link', kind: 'link', expiresAt: at(1) }));
    const listed = (await tokens.list(NOW)).filter((t) => t.id.startsWith('list_'));
    expect(listed.map((t) => t.id)).toEqual(['list_api', 'list_runtime', 'list_session']);
    expect(listed.find((t) => t.id === 'list_runtime')).toMatchObject({ runtimeId: 'laptop-bea' });
  });

  it('tokens: revoke by id or name returns the live rows it revoked; a name names API tokens only; `only` keeps to a kind and role; a session ends apart from a token of its name', async () => {
    await tokens.add(token({ id: 'rv_1', name: 'ci' }));
    await tokens.add(token({ id: 'rv_1b', name: 'ci' }));
    // A user's session carries the user's name: a token named like the user leaves it alone.
    await tokens.add(token({ id: 'rv_2', name: 'ci', kind: 'session', expiresAt: at(8) }));
    const revoked = await tokens.revoke('ci', { now: NOW });
    expect(ids(revoked)).toEqual(['rv_1', 'rv_1b']);
    expect(revoked.every((r) => r.revokedAt === NOW.toISOString())).toBe(true);
    expect(await tokens.revoke('ci')).toEqual([]);
    expect(await tokens.revoke('rv_1')).toEqual([]);
    expect((await tokens.byId('rv_2'))?.revokedAt).toBeNull();
    expect(ids(await tokens.revoke('rv_2'))).toEqual(['rv_2']);

    await tokens.add(token({ id: 'rv_metrics', name: 'prom', role: 'metrics' }));
    await tokens.add(token({ id: 'rv_prom_session', name: 'prom', kind: 'session', expiresAt: at(8) }));
    expect(ids(await tokens.revoke('prom', { only: { kind: 'api', role: 'metrics' } }))).toEqual(['rv_metrics']);
    expect((await tokens.byId('rv_prom_session'))?.revokedAt).toBeNull();
    expect(ids(await tokens.revoke('rv_prom_session'))).toEqual(['rv_prom_session']);
  });

  it('users: removing a user revokes the sessions its logins opened in the same change, never a token that only shares its name', async () => {
    await users.add({ id: 'user_d1', name: 'dan', role: 'viewer', passwordHash: '$argon2id$d' });
    await tokens.add(token({ id: 'rv_dan_1', name: 'dan', role: 'viewer', kind: 'session', expiresAt: at(8) }));
    await tokens.add(token({ id: 'rv_dan_2', name: 'dan', role: 'viewer', kind: 'session', expiresAt: at(8) }));
    await tokens.add(token({ id: 'rv_dan_api', name: 'dan' }));
    await tokens.add(token({ id: 'rv_dana', name: 'dana', kind: 'session', expiresAt: at(8) }));
    const removed = await users.remove('dan');
    for (const id of ['rv_dan_1', 'rv_dan_2']) expect((await tokens.byId(id))?.revokedAt).toBe(removed?.removedAt);
    for (const id of ['rv_dan_api', 'rv_dana']) expect((await tokens.byId(id))?.revokedAt).toBeNull();
    // No user of the name: nothing removed, nothing revoked.
    expect(await users.remove('dana')).toBeNull();
    expect((await tokens.byId('rv_dana'))?.revokedAt).toBeNull();
  });

  it('tokens: a runtime token keeps its runtime id', async () => {
    await tokens.add(token({ id: 'tok_rt', kind: 'runtime', role: 'runtime', runtimeId: 'laptop-ana' }));
    expect(await tokens.byHash('h-tok_rt')).toMatchObject({ kind: 'runtime', runtimeId: 'laptop-ana' });
  });
});

const bytes = (s: string) => Buffer.from(s);
const sealed = (v: string) => ({ salt: bytes(`salt-${v}`), nonce: bytes(`nonce-${v}`), ciphertext: bytes(`ct-${v}`), kdf: '{"alg":"argon2id"}', maskedSealed: bytes(`mask-${v}`) });
const audited = (secretName: string, operation: SecretAuditInput['operation'], success = true): SecretAuditInput => ({
  secretName,
  operation,
  requesterRole: 'admin',
  requester: 'ana',
  agentId: null,
  success,
  errorMessage: success ? null : 'refused',
});
const secretEvent = (type: 'secret.created' | 'secret.updated' | 'secret.deleted', name: string): NewEvent => ({
  agentId: null,
  type,
  severity: 'info',
  message: `${type} ${name}`,
  data: { name, environment: 'development', by: 'ana' },
});

describe.each(DATABASES)('the vault’s rows on %s', (_name, open) => {
  let db: Database;
  let store: SecretsStore;
  beforeAll(async () => {
    db = await open();
    store = new SecretsStore(db.dialect);
  });
  afterAll(() => db?.close());

  it('keeps the first check value; seals rows per environment; a second live name is refused, a deleted one frees it', async () => {
    expect(await store.meta()).toBeNull();
    await store.saveMeta({ ...sealed('check-1'), kdf: 'k1' });
    await store.saveMeta({ ...sealed('check-2'), kdf: 'k2' });
    expect(await store.meta()).toMatchObject({ kdf: 'k1', ciphertext: bytes('ct-check-1') });

    const a = await store.create({ id: 'secret-a', name: 'API_KEY', environment: 'development', ...sealed('a') }, audited('API_KEY', 'CREATE'), secretEvent('secret.created', 'API_KEY'));
    expect(a).toMatchObject({ id: 'secret-a', deletedAt: null, ciphertext: bytes('ct-a') });
    await store.create({ id: 'secret-b', name: 'API_KEY', environment: 'production', ...sealed('b') }, audited('API_KEY', 'CREATE'), secretEvent('secret.created', 'API_KEY'));
    await store.create({ id: 'secret-c', name: 'CRM', environment: 'development', ...sealed('c') }, audited('CRM', 'CREATE'), secretEvent('secret.created', 'CRM'));
    await expect(async () =>
      store.create({ id: 'secret-d', name: 'API_KEY', environment: 'development', ...sealed('d') }, audited('API_KEY', 'CREATE'), secretEvent('secret.created', 'API_KEY')),
    ).rejects.toThrow('a secret named API_KEY already exists in environment development');
    expect(await store.byId('secret-d')).toBeNull();

    expect(ids(await store.list())).toEqual(['secret-a', 'secret-b', 'secret-c']);
    expect((await store.list('development')).map((r) => r.name)).toEqual(['API_KEY', 'CRM']);
    expect((await store.liveByName('API_KEY', 'production'))?.id).toBe('secret-b');
    expect(ids(await store.liveByNames(['API_KEY', 'CRM', 'NONE'], 'development'))).toEqual(['secret-a', 'secret-c']);
    expect(await store.liveByNames([], 'development')).toEqual([]);

    await store.softDelete('secret-c', [audited('CRM', 'DELETE')], secretEvent('secret.deleted', 'CRM'));
    expect(await store.liveByName('CRM', 'development')).toBeNull();
    expect((await store.byId('secret-c'))?.deletedAt).toEqual(expect.any(String));
    await store.create({ id: 'secret-e', name: 'CRM', environment: 'development', ...sealed('e') }, audited('CRM', 'CREATE'), secretEvent('secret.created', 'CRM'));
    expect(ids(await store.all())).toEqual(['secret-a', 'secret-b', 'secret-c', 'secret-e']);
    if (db.events) expect(db.events().filter((t) => t.startsWith('secret.'))).toEqual(['secret.created', 'secret.created', 'secret.created', 'secret.deleted', 'secret.created']);
  });

  it('an update moves updatedAt forward and refuses a change decided from an older version; of two racing from one version, one wins', async () => {
    const before = (await store.byId('secret-a'))!;
    const next = await store.update('secret-a', sealed('a2'), [audited('API_KEY', 'UPDATE')], secretEvent('secret.updated', 'API_KEY'), before.updatedAt);
    expect(next.ciphertext).toEqual(bytes('ct-a2'));
    expect(next.updatedAt > before.updatedAt).toBe(true);
    await expect(async () => store.update('secret-a', sealed('a3'), [], secretEvent('secret.updated', 'API_KEY'), before.updatedAt)).rejects.toMatchObject({ status: 409, code: 'stale' });

    const outcomes = await Promise.allSettled(
      ['x', 'y'].map(async (v) => store.update('secret-a', sealed(v), [audited('API_KEY', 'UPDATE')], secretEvent('secret.updated', 'API_KEY'), next.updatedAt)),
    );
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(outcomes.find((o) => o.status === 'rejected')).toMatchObject({ reason: { code: 'stale' } });
  });

  it('audit rows are read in order, by name, operation and cursor, up to a limit; a rekey reseals every row and the check value at once', async () => {
    await store.audit([audited('CRM', 'READ'), audited('CRM', 'DENIED', false)]);
    await store.audit([]);
    const all = await store.auditList({ limit: 100 });
    expect(all.map((r) => r.id)).toEqual([...all.map((r) => r.id)].sort((x, y) => x - y));
    expect(all.map((r) => `${r.operation} ${r.secretName} ${r.success}`)).toEqual([
      'CREATE API_KEY true',
      'CREATE API_KEY true',
      'CREATE CRM true',
      'DELETE CRM true',
      'CREATE CRM true',
      'UPDATE API_KEY true',
      'UPDATE API_KEY true',
      'READ CRM true',
      'DENIED CRM false',
    ]);
    expect((await store.auditList({ secretName: 'CRM', operation: 'CREATE', limit: 100 })).map((r) => r.id)).toEqual([all[2]!.id, all[4]!.id]);
    expect((await store.auditList({ after: all[6]!.id, limit: 1 })).map((r) => r.operation)).toEqual(['READ']);

    const rows = await store.all();
    await store.rekey(
      rows.map((r) => ({ id: r.id, ...sealed(`re-${r.id}`) })),
      { ...sealed('check-re'), kdf: 'k-re' },
      rows.filter((r) => !r.deletedAt).map((r) => audited(r.name, 'UPDATE')),
    );
    expect((await store.all()).map((r) => r.ciphertext.toString())).toEqual(rows.map((r) => `ct-re-${r.id}`));
    expect(await store.meta()).toMatchObject({ kdf: 'k-re' });
    expect(await store.auditList({ after: all.at(-1)!.id, limit: 100 })).toHaveLength(3);
  });
});

// The vault: one VaultService over the one store, on either database, the same rules and the
// same audit rows on both.
describe.each(DATABASES)('the vault on %s', (_name, open) => {
  const admin: Principal = { role: 'admin', agentId: null, name: 'ana', jti: '' };
  const runtime: Principal = { role: 'runtime', agentId: null, name: 'runtime r1', jti: 'tok_1', runtimeId: 'r1' };
  let db: Database;
  afterAll(() => db?.close());

  it('seals, refuses a duplicate and a stale change, reads for a runtime in scope only, and audits who did what', async () => {
    db = await open();
    const store = new SecretsStore(db.dialect);
    const vault = await VaultService.open({ store }, 'both-dialects-master-key-0123456789');
    expect(vault.status).toBe('unlocked');
    // Nothing sealed yet: the vault is bound to no key (a refused write binds it to none either).
    const other = await VaultService.open({ store }, 'another-master-key-0123456789');
    expect(other.status).toBe('unlocked');
    await expect(vault.create(admin, { name: 'OPENAI_API_KEY', value: '' })).rejects.toMatchObject({ status: 400 });
    expect(await store.meta()).toBeNull();

    const made = await vault.create(admin, { name: 'OPENAI_API_KEY', value: 'sk-both-dialects-0001' });
    // The first secret sealed bound it: an opening with the same key opens the check value stored,
    // another key does not, and the service opened with it before the binding is refused its write.
    expect(await store.meta()).not.toBeNull();
    expect((await VaultService.open({ store }, 'both-dialects-master-key-0123456789')).status).toBe('unlocked');
    expect((await VaultService.open({ store }, 'another-master-key-0123456789')).status).toBe('wrong_master_key');
    await expect(other.create(admin, { name: 'CRM_TOKEN', value: 'crm-the-other-key' })).rejects.toMatchObject({ status: 423 });
    expect(other.status).toBe('wrong_master_key');
    await expect(other.list(admin)).rejects.toMatchObject({ status: 423 });
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
      'CREATE OPENAI_API_KEY admin:ana false',
      'CREATE OPENAI_API_KEY admin:ana true',
      'CREATE CRM_TOKEN admin:ana false',
      'READ null admin:ana false',
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

  // Two replicas open one new vault; the other binds it first while this one's requests run at
  // once: each waits for the one settling under way, none reads or seals with a vault about to
  // be replaced (a create sealed under the unstored check's key: a row every list showed tampered).
  it.each([
    ['the same key', 'both-dialects-race-key-0123456789'],
    ['another key', 'both-dialects-race-other-key-012345'],
  ])('requests at once while another replica binds it with %s: nothing sealed under a vault not stored', async (_what, otherKey) => {
    const fresh = await open();
    try {
      const store = new SecretsStore(fresh.dialect);
      const mine = await VaultService.open({ store }, 'both-dialects-race-key-0123456789');
      const other = await VaultService.open({ store }, otherKey);
      await other.create(admin, { name: 'FROM_OTHER', value: 'value-of-the-other-replica' });
      const [listed, made] = await Promise.allSettled([mine.list(admin), mine.create(admin, { name: 'FROM_MINE', value: 'value-of-this-replica' })]);
      const reader = await VaultService.open({ store }, otherKey);
      const rows = await reader.list(admin);
      if (otherKey === 'both-dialects-race-key-0123456789') {
        expect(listed.status === 'fulfilled' && listed.value.map((r) => r.maskedValue)).toEqual(['valu...ica']);
        expect(made).toMatchObject({ status: 'fulfilled', value: { name: 'FROM_MINE' } });
        expect(rows.map((r) => [r.name, r.maskedValue])).toEqual([
          ['FROM_MINE', 'valu...ica'],
          ['FROM_OTHER', 'valu...ica'],
        ]);
      } else {
        // This replica's key does not open the vault the other bound: refused, nothing stored.
        expect([listed, made].map((r) => (r.status === 'rejected' ? (r.reason as { status: number }).status : r.status))).toEqual([423, 423]);
        expect(mine.status).toBe('wrong_master_key');
        expect(rows.map((r) => [r.name, r.maskedValue])).toEqual([['FROM_OTHER', 'valu...ica']]);
      }
    } finally {
      await fresh.close();
    }
  });
});
