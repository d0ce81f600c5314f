import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { Principal } from '../auth/index.js';
import { ForbiddenError, IronCageError, NotFoundError, SecretTamperedError, ValidationError, VaultLockedError, WrongMasterKeyError } from '../core/errors.js';
import { TERMINAL_STATUSES, type NewEvent } from '../core/events.js';
import { newSecretId, SECRET_ID_RE } from '../core/ids.js';
import { checkEnvironment, checkName, checkValue, DEFAULT_ENVIRONMENT, inScope, Vault } from '../domain/secrets/index.js';
import type { AuditQuery, SecretAuditInput, SecretAuditRow, SecretOperation, SecretRow, SecretsStore, StateManager } from '../state/index.js';
import { parseWith } from '../server/index.js';
import { refusal, type SecretAction } from './rbac.js';

/** A secret as the API shows it: never the value unless revealed. */
export interface SecretView {
  id: string;
  name: string;
  environment: string;
  maskedValue: string;
  createdAt: string;
  updatedAt: string;
}

export type VaultStatus = 'unlocked' | 'locked' | 'wrong_master_key';

export interface VaultDeps {
  /** On the runtime's SQLite or the control panel's PostgreSQL. */
  store: SecretsStore;
  /** The runtime's agents (an agent's own secrets endpoint); a panel has none. */
  state?: Pick<StateManager, 'getAgent'>;
  /** `secrets.expose_provider_keys`: let secrets named like the provider keys reach agents. */
  exposeProviderKeys?: boolean;
  /** Secrets the config refers to (provider keys, tool headers): iron-cage's own, never an agent's. */
  configRefs?: () => Iterable<string>;
  /**
   * How the user of this process gives it the key, said when it has none: a server is started
   * again with it, a CLI command is run with it set for that command alone.
   */
  keyHint?: string;
}

/** What a running iron-cage answers when it was started without the key. */
export const SERVER_KEY_HINT = 'start this iron-cage again with it set for it, e.g. IRON_CAGE_MASTER_KEY=… iron-cage serve';

/**
 * The gateway attaches the real provider keys; an agent's OPENAI_API_KEY and ANTHROPIC_API_KEY
 * hold its own scoped token, so it can neither spend around its budget nor leak the key. Secrets
 * of those names therefore reach an agent (at spawn or on reload) only with
 * `secrets.expose_provider_keys: true`.
 */
export const PROVIDER_KEY_VARS: readonly string[] = ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY'];
/** What the gateway sets in an agent's environment: a secret of the same name would route it around the cage. */
const GATEWAY_VARS: readonly string[] = ['OPENAI_BASE_URL', 'ANTHROPIC_BASE_URL'];

const createBody = z.strictObject({ name: z.unknown(), environment: z.unknown().optional(), value: z.unknown() });
/** `expectedUpdatedAt`: the `updatedAt` the caller saw (the dashboard always sends it): a secret changed since is refused, 409 `stale`. */
const updateBody = z.strictObject({
  value: z.unknown(),
  expectedUpdatedAt: z.iso.datetime({ message: 'must be an ISO 8601 UTC time like 2025-01-31T12:00:00.000Z, as updatedAt is shown' }).optional(),
});

const audited = new WeakSet<object>();

/** What `runtimeRead` answers: nothing new since the ETag the runtime holds, or every value it asked for. */
export type RuntimeRead =
  | { etag: string; notModified: true; environment?: undefined; secrets?: undefined }
  | { etag: string; notModified: false; environment: string; secrets: Record<string, { value: string; version: string; updatedAt: string }> };

/** A secret's version: changes with every change of its row (and with a new row of the same name). */
const digest = (text: string, chars: number): string => createHash('sha256').update(text).digest('base64url').slice(0, chars);
const versionOf = (r: Pick<SecretRow, 'id' | 'updatedAt'>): string => digest(`${r.id}\n${r.updatedAt}`, 16);
/** Shown instead of a masked value whose stored preview failed its integrity check. */
export const TAMPERED_MASK = '[integrity check failed]';

/**
 * The vault as the API and the CLI use it: RBAC, validation, audit and events around the
 * sealed store. Every operation takes the caller's principal; every refusal and failure leaves
 * an audit row and changes nothing else.
 */
export class VaultService {
  /** Called after a change to a secret of `environment` (rotation signals hook in here). */
  onChange: (environment: string, name: string) => void | Promise<void> = () => {};

  /**
   * A vault opened on a database with no check value yet is bound to its key only at its first
   * write (bind): a command refused for its input, or a server that never stores a secret, leaves
   * the vault free for whichever key first seals something. Until then `masterKey` is kept to
   * adopt the check another process (a panel's replica, the CLI beside a server) stores meanwhile.
   */
  private unbound: { masterKey: string } | null;
  private settling: Promise<void> | null = null;

  private constructor(
    private readonly deps: VaultDeps,
    private vault: Vault | null,
    private _status: VaultStatus,
    /** How many live secrets there were when it opened (the start's line). */
    private readonly count = 0,
    unboundKey: string | null = null,
  ) {
    this.unbound = unboundKey === null ? null : { masterKey: unboundKey };
  }

  get status(): VaultStatus {
    return this._status;
  }

  /**
   * Unlock with `masterKey` (never stored), or stay locked without one. A wrong key leaves the
   * vault locked too: secrets routes answer 423, everything else runs. A vault with no check
   * value yet is unlocked with this key but bound to it only at its first write.
   */
  static async open(deps: VaultDeps, masterKey: string | undefined): Promise<VaultService> {
    // Locked without a key: what it holds (sealed) decides whether a start has anything to say of it.
    if (!masterKey) return new VaultService(deps, null, 'locked', (await deps.store.list()).length);
    try {
      const { vault, created } = await Vault.unlock(masterKey, await deps.store.meta());
      return new VaultService(deps, vault, 'unlocked', (await deps.store.list()).length, created ? masterKey : null);
    } catch (e) {
      if (e instanceof WrongMasterKeyError) return new VaultService(deps, null, 'wrong_master_key');
      throw e;
    }
  }

  /**
   * Until the vault is bound: the check value another process stored since it opened is the
   * vault's (this key is checked against it, and a wrong one locks this service as at open). One
   * settling at a time (a read's adopt, or a write's bind): every caller waits for the one under
   * way, and the vault is final (replaced, or locked) before `unbound` is cleared, so no request
   * ever reads or seals with the vault a settling is about to replace.
   */
  private settle(write: boolean): Promise<void> {
    this.settling ??= this.settleOnce(write).finally(() => {
      this.settling = null;
    });
    return this.settling;
  }

  private async settleOnce(write: boolean): Promise<void> {
    const unbound = this.unbound;
    const vault = this.vault;
    if (!unbound || !vault) return;
    if (write) await this.deps.store.saveMeta(vault.check);
    const stored = await this.deps.store.meta();
    if (!stored) return;
    if (!stored.salt.equals(vault.check.salt)) {
      try {
        this.vault = (await Vault.unlock(unbound.masterKey, stored)).vault;
      } catch (e) {
        if (!(e instanceof WrongMasterKeyError)) throw e;
        this.vault = null;
        this._status = 'wrong_master_key';
      }
    }
    this.unbound = null;
  }

  /** Store the check value before the first secret is sealed under it (two writers at once: the first stored wins, see settle). */
  private async bind(): Promise<Vault> {
    // A read's settling under way may leave it unbound (nothing stored yet): then this one stores.
    for (let pass = 0; this.unbound && this.vault; pass++) {
      if (pass === 2) throw new IronCageError('vault_unbound', 500, 'the vault check value was stored but cannot be read back');
      await this.settle(true);
    }
    return this.unlocked();
  }

  /** The unlocked vault (or VaultLockedError), with a check value another process stored meanwhile adopted. */
  async ready(): Promise<Vault> {
    if (this.unbound) await this.settle(false);
    return this.unlocked();
  }

  /**
   * The one line said at start; null when there is nothing to say: no key was given, the vault
   * holds no secret and the config refers to none (a plain start uses no secret, so a locked
   * vault withholds nothing).
   */
  get statusLine(): string | null {
    if (this.status === 'unlocked') return `Secrets vault unlocked (${this.count} secret(s))`;
    if (this.status === 'wrong_master_key') return 'Secrets vault LOCKED: IRON_CAGE_MASTER_KEY does not open it (wrong master key); secrets routes answer 423';
    if (this.count === 0 && [...(this.deps.configRefs?.() ?? [])].length === 0) return null;
    const held = this.count === 0 ? 'the config refers to secrets' : `it holds ${this.count} secret(s)`;
    return `Secrets vault locked: ${held} and IRON_CAGE_MASTER_KEY is not set (${this.deps.keyHint ?? SERVER_KEY_HINT}); secrets routes answer 423`;
  }

  /**
   * Whether the vault is open and, when not, the message a secrets route would answer with: the
   * dashboard asks this first, so a locked vault is a state it explains, not a failed request.
   */
  async state(p: Principal): Promise<{ status: VaultStatus; message: string | null }> {
    await this.authorize(p, 'list', null);
    try {
      await this.ready();
      return { status: this.status, message: null };
    } catch (e) {
      if (!(e instanceof VaultLockedError)) throw e;
      return { status: this.status, message: e.message };
    }
  }

  /** The unlocked vault (for rekey), or VaultLockedError. */
  unlocked(): Vault {
    if (this.vault) return this.vault;
    throw new VaultLockedError(
      this.status === 'wrong_master_key'
        ? 'the secrets vault is locked: IRON_CAGE_MASTER_KEY does not open it (wrong master key)'
        : `the secrets vault is locked: IRON_CAGE_MASTER_KEY is not set (${this.deps.keyHint ?? SERVER_KEY_HINT})`,
    );
  }

  private audit(p: Principal, operation: SecretOperation, name: string | null, success: boolean, error: string | null, agentId: string | null = p.agentId): SecretAuditInput {
    return { secretName: name, operation, requesterRole: p.role, requester: p.name, agentId, success, errorMessage: error };
  }

  /** RBAC first: a refusal is audited DENIED and thrown as 403. */
  private async authorize(p: Principal, action: SecretAction, name: string | null, agentId?: string): Promise<void> {
    const why = refusal(p, action, agentId);
    if (why === null) return;
    await this.deps.store.audit([this.audit(p, 'DENIED', name, false, `${action}: ${why}`, agentId ?? p.agentId)]);
    throw new ForbiddenError(why);
  }

  /** Run `fn`; a failure is audited under `op` (never with a value: messages carry none) and rethrown. */
  private async guarded<T>(p: Principal, op: SecretOperation, name: string | null | (() => string | null), fn: () => Promise<T> | T): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      // Nested guards (before and after the row's name is known) audit a failure once.
      if (audited.has(e as object)) throw e;
      if (typeof e === 'object' && e !== null) audited.add(e);
      const msg = e instanceof IronCageError ? `${e.code}: ${e.message}` : 'internal error';
      await this.deps.store.audit([this.audit(p, op, typeof name === 'function' ? name() : name, false, msg)]);
      throw e;
    }
  }

  /** A row whose masked preview fails its check still lists (and can be deleted or overwritten). */
  private view(r: SecretRow): SecretView {
    let maskedValue: string;
    try {
      maskedValue = this.unlocked().masked(r);
    } catch (e) {
      if (!(e instanceof SecretTamperedError)) throw e;
      maskedValue = TAMPERED_MASK;
    }
    return { id: r.id, name: r.name, environment: r.environment, maskedValue, createdAt: r.createdAt, updatedAt: r.updatedAt };
  }

  private async live(id: string): Promise<SecretRow> {
    if (!SECRET_ID_RE.test(id)) throw new ValidationError('id: must be secret- followed by 16 hex digits');
    const row = await this.deps.store.byId(id);
    if (!row) throw new NotFoundError(`no secret ${id}`);
    if (row.deletedAt) throw new NotFoundError(`secret ${id} was deleted`);
    return row;
  }

  private event(type: 'secret.created' | 'secret.updated' | 'secret.deleted', r: Pick<SecretRow, 'name' | 'environment'>, by: Principal): NewEvent {
    const verb = type.slice('secret.'.length);
    return {
      agentId: null,
      type,
      severity: 'info',
      message: `Secret ${r.name} ${verb} in ${r.environment} by ${by.role} ${by.name}`,
      data: { name: r.name, environment: r.environment, by: `${by.role}:${by.name}` },
    };
  }

  async list(p: Principal, environment?: string): Promise<SecretView[]> {
    await this.authorize(p, 'list', null);
    return this.guarded(p, 'READ', null, async () => {
      const env = environment === undefined ? undefined : checkEnvironment(environment);
      await this.ready();
      return (await this.deps.store.list(env)).map((r) => this.view(r));
    });
  }

  /** Masked, or with `reveal` (admins) the value too; audited READ or REVEAL. */
  async get(p: Principal, id: string, reveal: boolean): Promise<SecretView & { value?: string }> {
    await this.authorize(p, reveal ? 'reveal' : 'read', null);
    const op = reveal ? 'REVEAL' : 'READ';
    return this.guarded(p, op, null, async () => {
      const vault = await this.ready();
      const row = await this.live(id);
      return this.guarded(p, op, row.name, async () => {
        const out: SecretView & { value?: string } = this.view(row);
        if (reveal) out.value = await vault.open(row);
        await this.deps.store.audit([this.audit(p, op, row.name, true, null)]);
        return out;
      });
    });
  }

  /** `input`: the request body `{name, environment?, value}` (read only once the caller is authorized). */
  async create(p: Principal, input: unknown): Promise<SecretView> {
    await this.authorize(p, 'create', null);
    let name: string | null = null;
    return this.guarded(
      p,
      'CREATE',
      () => name,
      async () => {
        const body = parseWith(createBody, await input);
        name = checkName(body.name);
        const environment = body.environment === undefined ? DEFAULT_ENVIRONMENT : checkEnvironment(body.environment);
        const value = checkValue(body.value);
        const vault = await this.bind();
        const who = { id: newSecretId(), name, environment };
        const sealed = await vault.seal(who, value);
        const row = await this.deps.store.create(sealed, this.audit(p, 'CREATE', name, true, null), this.event('secret.created', who, p));
        await this.onChange(environment, name);
        return this.view(row);
      },
    );
  }

  /** `input`: the request body `{value, expectedUpdatedAt?}`. */
  async update(p: Principal, id: string, input: unknown): Promise<SecretView> {
    await this.authorize(p, 'update', null);
    return this.guarded(p, 'UPDATE', null, async () => {
      await this.ready();
      const row = await this.live(id);
      return this.guarded(p, 'UPDATE', row.name, async () => {
        const body = parseWith(updateBody, await input);
        const value = checkValue(body.value);
        const sealed = await (await this.bind()).seal(row, value);
        const next = await this.deps.store.update(row.id, sealed, [this.audit(p, 'UPDATE', row.name, true, null)], this.event('secret.updated', row, p), body.expectedUpdatedAt);
        await this.onChange(row.environment, row.name);
        return this.view(next);
      });
    });
  }

  async remove(p: Principal, id: string): Promise<SecretView> {
    await this.authorize(p, 'delete', null);
    return this.guarded(p, 'DELETE', null, async () => {
      await this.ready();
      const row = await this.live(id);
      const shown = this.view(row);
      await this.deps.store.softDelete(row.id, [this.audit(p, 'DELETE', row.name, true, null)], this.event('secret.deleted', row, p));
      await this.onChange(row.environment, row.name);
      return shown;
    });
  }

  async auditLog(p: Principal, q: AuditQuery): Promise<SecretAuditRow[]> {
    await this.authorize(p, 'audit', null);
    return this.deps.store.auditList(q);
  }

  /** The contract's `GET /api/agents/:id/secrets`: the values of the agent's environment, audited READ per name. */
  async agentSecrets(p: Principal, agentId: string): Promise<{ agentId: string; environment: string; secrets: Record<string, string> }> {
    await this.authorize(p, 'agent-secrets', null, agentId);
    return this.guarded(p, 'READ', null, async () => {
      const agent = this.deps.state?.getAgent(agentId);
      if (!agent) throw new NotFoundError(`no agent ${agentId}`);
      // A token outlives its run, and an external agent has no run: secrets go to a running one only.
      if (agent.kind !== 'supervised' || TERMINAL_STATUSES.has(agent.status)) {
        throw new ForbiddenError(`agent ${agentId} is not a running supervised agent: its token no longer fetches secrets`);
      }
      // Like injection at spawn: a row that fails its integrity check is left out (audited), not
      // allowed to fail the agent's whole reload.
      const { values: secrets, audit } = await this.openForAgent(agent.environment, p, 'READ', agentId);
      await this.deps.store.audit(audit);
      return { agentId, environment: agent.environment, secrets };
    });
  }

  /**
   * The environment's values for a spawn, audited INJECT per name. A secret that fails its
   * integrity check is left out (audited as a failed INJECT, named in `failed`): the agent
   * starts without it rather than not at all.
   */
  async inject(agentId: string, environment: string): Promise<{ values: Record<string, string>; failed: string[] }> {
    const p: Principal = { role: 'admin', agentId: null, name: 'supervisor', jti: '' };
    const { values, failed, audit } = await this.openForAgent(environment, p, 'INJECT', agentId);
    await this.deps.store.audit(audit);
    return { values, failed };
  }

  /** The values of `environment` an agent may have, with an audit row per name (failed for a row that does not open). */
  private async openForAgent(environment: string, p: Principal, op: 'INJECT' | 'READ', agentId: string) {
    const vault = await this.ready();
    const rows = (await this.deps.store.list(environment)).filter((r) => this.reachesAgent(r.name));
    // Warm (keys cached) each open completes synchronously inside; cold ones derive in parallel.
    const opened = await Promise.allSettled(rows.map((r) => vault.open(r)));
    const values: Record<string, string> = {};
    const failed: string[] = [];
    const audit = rows.map((r, i) => {
      const o = opened[i]!;
      if (o.status === 'fulfilled') values[r.name] = o.value;
      else failed.push(r.name);
      return this.audit(p, op, r.name, o.status === 'fulfilled', o.status === 'fulfilled' ? null : String((o.reason as Error).message), agentId);
    });
    return { values, failed, audit };
  }

  /**
   * Not the vault's to give an agent: iron-cage's own IRON_CAGE_* and gateway variables, and the
   * credentials iron-cage itself attaches upstream (provider keys, secrets the config refers to),
   * which would let the agent bypass the budget and the redaction.
   */
  reachesAgent(name: string): boolean {
    if (name.startsWith('IRON_CAGE_') || GATEWAY_VARS.includes(name)) return false;
    if (this.deps.exposeProviderKeys === true) return true;
    return !PROVIDER_KEY_VARS.includes(name) && ![...(this.deps.configRefs?.() ?? [])].includes(name);
  }

  /** A secret the config refers to (a provider key), for iron-cage's own use: audited READ by `config`. */
  async configValue(name: string, environment: string): Promise<string | null> {
    const row = await this.deps.store.liveByName(name, environment);
    if (!row) return null;
    const p: Principal = { role: 'admin', agentId: null, name: 'config', jti: '' };
    return this.guarded(p, 'READ', name, async () => {
      const value = await (await this.ready()).open(row);
      await this.deps.store.audit([this.audit(p, 'READ', name, true, null)]);
      return value;
    });
  }

  /**
   * A runtime's read on a control panel (`GET /api/runtime/secrets`): the values of `names` in
   * `environment`, each with its version, and an ETag over them all. A name outside the runtime's
   * `scope` is refused whole (403, audited DENIED per name), a name with no live secret too (404);
   * when `ifNoneMatch` is the current ETag nothing is opened, audited or sent (`notModified`).
   * Every value sent is audited READ by the runtime, never with the value.
   */
  async runtimeRead(p: Principal, q: { names: string[]; environment: string; scope: readonly string[]; ifNoneMatch?: string | null }): Promise<RuntimeRead> {
    await this.authorize(p, 'runtime-secrets', null);
    const environment = checkEnvironment(q.environment);
    const names = [...new Set(q.names.map((n) => checkName(n)))].sort();
    if (names.length === 0) throw new ValidationError('names: ask for at least one secret (names=NAME,NAME…)');
    const denied = names.filter((n) => !inScope(q.scope, n));
    if (denied.length > 0) {
      const why = `not in the scope of runtime '${p.runtimeId}' (an admin grants it: PUT /api/runtimes/${p.runtimeId}/secrets)`;
      await this.deps.store.audit(denied.map((n) => this.audit(p, 'DENIED', n, false, `runtime-secrets: ${why}`)));
      throw new ForbiddenError(`${denied.join(', ')}: ${why}`);
    }
    return this.guarded(p, 'READ', null, async () => {
      const vault = await this.ready();
      const rows = new Map((await this.deps.store.liveByNames(names, environment)).map((r) => [r.name, r]));
      const missing = names.filter((n) => !rows.has(n));
      if (missing.length > 0) throw new NotFoundError(`${missing.join(', ')}: no such secret in environment ${environment} on this panel`);
      const versions = names.map((n) => [n, versionOf(rows.get(n)!)] as const);
      const etag = `"${digest(JSON.stringify([environment, versions]), 22)}"`;
      if (q.ifNoneMatch === etag) return { etag, notModified: true };
      const secrets: RuntimeRead['secrets'] = {};
      const audit: SecretAuditInput[] = [];
      for (const [name, version] of versions) {
        const row = rows.get(name)!;
        const value = await this.guarded(p, 'READ', name, () => vault.open(row));
        secrets[name] = { value, version, updatedAt: row.updatedAt };
        audit.push(this.audit(p, 'READ', name, true, null));
      }
      await this.deps.store.audit(audit);
      return { etag, notModified: false, environment, secrets };
    });
  }

  /** Audit a rotation signal sent to a running agent. */
  async rotated(agentId: string, name: string): Promise<void> {
    await this.deps.store.audit([{ secretName: name, operation: 'ROTATE', requesterRole: 'admin', requester: 'supervisor', agentId, success: true, errorMessage: null }]);
  }
}

/** The shortest master key `rekey` takes. */
export const MIN_NEW_KEY_CHARS = 16;

/**
 * Re-encrypt every secret (deleted ones too) and the check value under `newKey`, in one
 * transaction: any row that does not open under the current key fails it all, changing nothing.
 */
export async function rekey(service: VaultService, store: SecretsStore, newKey: string, by: Principal): Promise<number> {
  const old = await service.ready();
  if (newKey.length === 0) throw new ValidationError('the new master key is empty');
  // Argon2id slows a guess, it does not make a short key long: a key chosen now is chosen well.
  if ([...newKey].length < MIN_NEW_KEY_CHARS)
    throw new ValidationError(`the new master key is ${[...newKey].length} character(s): choose one of at least ${MIN_NEW_KEY_CHARS} (a passphrase of several words, or openssl rand -base64 32)`);
  const { vault: next } = await Vault.unlock(newKey, null);
  const rows = await store.all();
  const resealed = await Promise.all(rows.map(async (r) => next.seal(r, await old.open(r))));
  const audit = rows
    .filter((r) => !r.deletedAt)
    .map((r): SecretAuditInput => ({ secretName: r.name, operation: 'UPDATE', requesterRole: by.role, requester: `${by.name} (rekey)`, agentId: null, success: true, errorMessage: null }));
  await store.rekey(resealed, next.check, audit);
  return rows.length;
}
