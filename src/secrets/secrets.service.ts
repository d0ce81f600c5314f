import type { Logger } from '../core/logger.js';
import type { Platform, Service } from '../server/index.js';
import { onSqlite, SecretsStore } from '../state/index.js';
import { vaultRoutes } from './secrets.routes.js';
import { VaultService } from './vault.js';

// The secrets vault as a service: unlocked by IRON_CAGE_MASTER_KEY at start (locked without
// it: secrets routes answer 423, the rest runs), its routes, injection of the run's
// environment's secrets at spawn, and SIGUSR1 to running agents when one of theirs changes.

/** Load (or drop) the value of a secret the config refers to, from the run's environment. */
async function refreshRef(ctx: Platform, vault: VaultService, name: string): Promise<void> {
  const value = vault.status === 'unlocked' ? await vault.configValue(name, ctx.config.environment).catch(() => null) : null;
  ctx.secrets.set({ source: 'secret', name }, value);
  if (value === null)
    ctx.logger.warn(
      `The config refers to secret:${name}, which is not available in environment ${ctx.config.environment} (${vault.status === 'unlocked' ? 'no such secret, or it failed its integrity check' : 'vault locked'}): calls that need it fail`,
    );
}

/**
 * Tell running agents of `environment` that a secret changed; audit and announce each signal.
 * Only a secret that reaches agents is told of: a provider key or another secret the config
 * refers to stays in iron-cage, which attaches the new value from its next upstream call, so no
 * agent is signalled or restarted for it. The event says which of these happened, never "or".
 */
function rotationSignals(ctx: Platform, vault: VaultService): (environment: string, name: string) => void {
  return (environment, name) => {
    if (!vault.reachesAgent(name)) {
      if (environment !== ctx.config.environment || !ctx.secrets.wanted('secret').includes(name)) return;
      ctx.state.record({
        agentId: null,
        type: 'secret.rotated',
        severity: 'info',
        message: `Secret ${name} rotated: iron-cage attaches the new value from its next upstream call (no agent holds it: none signalled or restarted)`,
        data: { name, environment, agentIds: [] },
      });
      return;
    }
    const signalled: string[] = [];
    const restarted: string[] = [];
    for (const a of ctx.state.listAgents()) {
      if (a.kind !== 'supervised' || a.status !== 'running' || a.environment !== environment) continue;
      const r = ctx.agents.signal(a.id, 'SIGUSR1');
      if (r === 'sent') signalled.push(a.id);
      else if (r === 'not-handled' && ctx.config.secrets.restartOnRotation && ctx.agents.restart(a.id, `secret ${name} rotated`)) restarted.push(a.id);
      else if (r === 'not-handled') {
        ctx.logger.warn(`Secret ${name} changed; agent ${a.id} has no SIGUSR1 handler (iron_cage SDK) and keeps the old value until it restarts (or set secrets.restart_on_rotation: true)`);
        continue;
      } else continue;
      void vault.rotated(a.id, name).catch((err: unknown) => ctx.logger.error({ err }, `could not audit the rotation signal to ${a.id}`));
    }
    const agentIds = [...signalled, ...restarted];
    if (agentIds.length === 0) return;
    const how = [signalled.length > 0 ? `${signalled.join(', ')} told by SIGUSR1` : null, restarted.length > 0 ? `${restarted.join(', ')} restarted` : null].filter(Boolean).join('; ');
    ctx.state.record({
      agentId: null,
      type: 'secret.rotated',
      severity: 'info',
      message: `Secret ${name} rotated: ${how}`,
      data: { name, environment, agentIds },
    });
  };
}

/** What a start says of its vault (a runtime's or a control panel's), once `ready` has resolved. */
export function announceVault(logger: Logger, key: string | undefined, ready: Promise<VaultService>): void {
  // The check value lets whoever copies the database guess offline, at Argon2id's cost per guess.
  if (key && key.length < 16) logger.warn(`IRON_CAGE_MASTER_KEY is only ${key.length} characters: use a long passphrase (16 or more); the database alone is enough to guess a short one offline`);
  void ready.then((v) => {
    const line = v.statusLine;
    if (line === null) return;
    if (v.status === 'unlocked') logger.info(line);
    else logger.warn(line);
  });
}

/** The vault service: `ready` resolves once the master key has been tried (Argon2id: tens of ms). */
export function secretsService(ctx: Platform): Service & { ready: Promise<VaultService> } {
  const store = new SecretsStore(onSqlite(ctx.state));
  const ready = VaultService.open(
    { store, state: ctx.state, exposeProviderKeys: ctx.config.secrets.exposeProviderKeys, configRefs: () => ctx.secrets.wanted('secret') },
    ctx.env.IRON_CAGE_MASTER_KEY,
  ).then(async (v) => {
    const signal = rotationSignals(ctx, v);
    // A rotated provider key applies to the next upstream call: it is loaded before the change is answered.
    v.onChange = async (environment, name) => {
      if (environment === ctx.config.environment && ctx.secrets.wanted('secret').includes(name)) await refreshRef(ctx, v, name);
      signal(environment, name);
    };
    for (const name of ctx.secrets.wanted('secret')) await refreshRef(ctx, v, name);
    return v;
  });
  return {
    name: 'vault',
    ready,
    apiRoutes: [vaultRoutes(() => ready)],
    async agentEnv(agentId) {
      const vault = await ready;
      const environment = ctx.state.getAgent(agentId)?.environment ?? 'development';
      if (vault.status !== 'unlocked') {
        const n = store.list(environment).length;
        if (n > 0) ctx.logger.warn(`Secrets vault is locked: agent ${agentId} starts without the ${n} secret(s) of environment ${environment}`);
        return {};
      }
      const { values, failed } = await vault.inject(agentId, environment);
      if (failed.length > 0) ctx.logger.warn(`Agent ${agentId} starts without ${failed.join(', ')}: failed the integrity check (tampered; see GET /api/secrets/audit)`);
      // Names only: the SDK removes a secret deleted before its first reload.
      return Object.keys(values).length === 0 ? {} : { ...values, IRON_CAGE_SECRET_NAMES: Object.keys(values).sort().join(',') };
    },
    announce() {
      announceVault(ctx.logger, ctx.env.IRON_CAGE_MASTER_KEY, ready);
      if (ctx.config.secrets.exposeProviderKeys) {
        ctx.logger.warn("secrets.expose_provider_keys is on: secrets named OPENAI_API_KEY / ANTHROPIC_API_KEY replace the agent's gateway token, so the agent holds the real provider key");
      }
    },
  };
}
