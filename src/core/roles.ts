import { ForbiddenError } from './errors.js';

// Who a caller is and what each role may do: the one RBAC decision of REST, WebSocket, gateway
// and tool proxy. Plain data, so the HTTP layer checks roles without knowing how tokens work.

/**
 * The roles a person's or an agent's token carries (`iron-cage token create --role`, a JWT's
 * `role`). `metrics`: a scraper's (Prometheus): it reads GET /metrics and nothing else.
 */
export const ROLES = ['admin', 'viewer', 'agent', 'metrics'] as const;
export type TokenRole = (typeof ROLES)[number];
/**
 * Every kind of caller: a token's role, or `runtime`, an agent runtime reporting to a control
 * panel (`ic_rt_…`, made by `POST /api/runtimes`): it sends telemetry for its own runtime id and
 * reads the panel secrets in its scope (`GET /api/runtime/secrets`); it may neither read nor act
 * on anything else.
 */
export type Role = TokenRole | 'runtime';

export interface Principal {
  role: Role;
  /** Set for agent tokens: the only agent this token may act on. */
  agentId: string | null;
  name: string;
  jti: string;
  /** Set for a named user's login token: checked to be live on every verification. */
  userId?: string;
  /** True for an API token (`iron-cage token create`): `jti` is then its row id, stable and unique. */
  apiToken?: boolean;
  /** Set for a runtime token: the only runtime id it may report for. */
  runtimeId?: string;
}

/** Where a token may be presented. Node's `req.headers` fits as it is. */
export interface CredentialHeaders {
  authorization?: string | string[] | null;
  'x-api-key'?: string | string[] | null;
}

/** Reading: admins and viewers see everything; an agent sees only itself; a runtime token nothing. */
export function canRead(p: Principal, agentId: string): boolean {
  if (p.role === 'admin' || p.role === 'viewer') return true;
  return p.role === 'agent' && p.agentId === agentId;
}

/** Acting (stop, report progress, checkpoint): admins, or the agent on itself. Never viewers, never a runtime token. */
export function assertCanAct(p: Principal, agentId: string): void {
  if (p.role === 'admin') return;
  if (p.role === 'agent' && p.agentId === agentId) return;
  if (p.role === 'viewer') throw new ForbiddenError('viewer tokens are read-only');
  if (p.role === 'runtime') throw new ForbiddenError('a runtime token may only send telemetry and take budget leases');
  if (p.role === 'metrics') throw new ForbiddenError('a metrics token may only read GET /metrics');
  throw new ForbiddenError(`this token may only act on agent ${p.agentId}`);
}

export function assertRole(p: Principal, ...roles: Role[]): void {
  if (!roles.includes(p.role)) throw new ForbiddenError(`requires the ${roles.join(' or ')} role`);
}

/** Reporting telemetry (or taking budget leases: `doing`): a runtime token, for its own runtime id only. */
export function assertRuntime(p: Principal, runtimeId: string, doing = 'telemetry is sent'): void {
  if (p.role !== 'runtime') throw new ForbiddenError(`${doing} with a runtime token (POST /api/runtimes makes one)`);
  if (p.runtimeId !== runtimeId) throw new ForbiddenError(`this runtime token reports for runtime '${p.runtimeId}', not '${runtimeId}'`);
}
