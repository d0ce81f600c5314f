import { ForbiddenError } from './errors.js';

// Who a caller is and what each role may do: the one RBAC decision of REST, WebSocket, gateway
// and tool proxy. Plain data, so the HTTP layer checks roles without knowing how tokens work.

export const ROLES = ['admin', 'viewer', 'agent'] as const;
export type Role = (typeof ROLES)[number];

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
}

/** Where a token may be presented. Node's `req.headers` fits as it is. */
export interface CredentialHeaders {
  authorization?: string | string[] | null;
  'x-api-key'?: string | string[] | null;
}

/** Reading: admins and viewers see everything; an agent sees only itself. */
export function canRead(p: Principal, agentId: string): boolean {
  return p.role !== 'agent' || p.agentId === agentId;
}

/** Acting (stop, report progress, checkpoint): admins, or the agent on itself. Never viewers. */
export function assertCanAct(p: Principal, agentId: string): void {
  if (p.role === 'admin') return;
  if (p.role === 'agent' && p.agentId === agentId) return;
  throw new ForbiddenError(p.role === 'viewer' ? 'viewer tokens are read-only' : `this token may only act on agent ${p.agentId}`);
}

export function assertRole(p: Principal, ...roles: Role[]): void {
  if (!roles.includes(p.role)) throw new ForbiddenError(`requires the ${roles.join(' or ')} role`);
}
