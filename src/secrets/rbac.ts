import type { Principal } from '../auth/index.js';

/** Everything one can ask of the vault. */
export type SecretAction = 'list' | 'read' | 'reveal' | 'create' | 'update' | 'delete' | 'audit' | 'agent-secrets' | 'runtime-secrets';

const READS: ReadonlySet<SecretAction> = new Set(['list', 'read', 'audit']);

/**
 * The one RBAC decision of the vault, from the token's claims alone: admins may do everything;
 * viewers list and read masked values and the audit log, never reveal or write; an agent may
 * only fetch its own environment's values through its own secrets endpoint; a runtime token (on
 * a control panel) only the secrets in its scope, through its own endpoint. Returns why not,
 * or null when allowed.
 *
 * @example
 *   refusal({ role: 'viewer', agentId: null, name: 'v', jti: '' }, 'reveal'); // 'viewer tokens may not reveal secret values'
 */
export function refusal(p: Principal, action: SecretAction, agentId?: string): string | null {
  if (action === 'runtime-secrets') return p.role === 'runtime' ? null : 'the secrets of a runtime are read with its runtime token (ic_rt_…)';
  if (p.role === 'admin') return null;
  if (p.role === 'viewer') {
    if (READS.has(action)) return null;
    return action === 'reveal' ? 'viewer tokens may not reveal secret values' : `viewer tokens are read-only (may not ${action} secrets)`;
  }
  if (p.role === 'runtime')
    return 'a runtime token may only send telemetry (/api/telemetry), take budget leases (/api/leases), read the secrets in its scope (GET /api/runtime/secrets) and the panel decisions on its approvals (GET /api/runtime/approvals)';
  if (action !== 'agent-secrets') return 'agent tokens may only fetch their own secrets (GET /api/agents/<own id>/secrets)';
  return p.agentId === agentId ? null : `this token may only fetch the secrets of agent ${p.agentId}`;
}
