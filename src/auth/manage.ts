import { isTokenId, newAgentId, newTokenId } from '../core/ids.js';
import { ValidationError } from '../core/errors.js';
import type { ApiTokenRow, StateManager, TokensStore } from '../state/index.js';
import { generateApiToken } from './api-tokens.js';
import { LINK_NAME, SESSION_NAME } from './links.js';
import type { Principal, Role } from '../core/roles.js';
import type { ResolvedApiToken, TokenService } from './tokens.js';

export interface CreatedToken {
  id: string;
  name: string;
  role: Role;
  agentId: string | null;
  /** Shown once; only its hash is stored. */
  token: string;
}

/**
 * An API token for something iron-cage does not spawn. An agent token gets its own agent
 * record (kind `external`), metered and budgeted exactly like a supervised agent.
 */
export function createApiToken(state: StateManager, store: TokensStore<'sync'>, o: { role: Role; name: string; budgetMicros: number | null }): CreatedToken {
  const name = apiTokenName(o.name);
  if (o.role !== 'agent' && o.budgetMicros !== null) throw new ValidationError('budget: only agent tokens have a budget');
  if (store.list().some((t) => t.name === name && t.revokedAt === null && t.kind === 'api')) throw new ValidationError(`name: a token named '${name}' already exists (revoke it first)`);
  let agentId: string | null = null;
  if (o.role === 'agent') {
    agentId = newAgentId(name);
    state.registerAgent({ id: agentId, name, kind: 'external', script: null, args: [], limitMicros: o.budgetMicros });
  }
  const { token, hash } = generateApiToken();
  const id = newTokenId();
  store.add({ id, name, role: o.role, agentId, hash, createdAt: new Date().toISOString(), revokedAt: null, kind: 'api', expiresAt: null });
  return { id, name, role: o.role, agentId, token };
}

/**
 * An API token's name as given, trimmed: 1-64 letters, digits, spaces, dots, dashes or
 * underscores, not shaped like a token id and none of the names iron-cage gives its own rows (a
 * revocation by id or name must name one token: a token named `tok_a741e31aac64` revoked the token
 * with that id too, one named `dashboard session` every session).
 *
 * @example apiTokenName(' ci runner ') // 'ci runner'
 */
export function apiTokenName(raw: string): string {
  const name = raw.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/.test(name)) throw new ValidationError('name: 1-64 letters, digits, spaces, dots, dashes or underscores');
  if (isTokenId(name)) throw new ValidationError(`name: '${name}' has the form of a token id (tok_ and 12 hex digits): choose another name`);
  // The names iron-cage gives its own rows: a token named so would be revoked with them by name (and they with it).
  if ([LINK_NAME, SESSION_NAME].includes(name.toLowerCase()) || /^runtime /i.test(name))
    throw new ValidationError(`name: '${name}' is a name iron-cage gives its own tokens (${LINK_NAME}, ${SESSION_NAME}, runtime <id>): choose another name`);
  return name;
}

/**
 * What an API token's row (SQLite's or the panel's) stands for: its `Principal` (the row id as
 * the `jti`; a runtime token's runtime), whether it is revoked, its kind and expiry.
 *
 * @example
 *   const row = store.byHash(hash);
 *   return row ? resolvedApiToken(row) : null;
 */
export function resolvedApiToken(row: ApiTokenRow): ResolvedApiToken {
  const principal: Principal = { role: row.role as Role, agentId: row.agentId, name: row.name, jti: row.id, apiToken: true, ...(row.runtimeId ? { runtimeId: row.runtimeId } : {}) };
  return { principal, revoked: row.revokedAt !== null, kind: row.kind, expiresAt: row.expiresAt };
}

/** Let the token service recognise API tokens by their hash. */
export function wireApiTokens(tokens: TokenService, store: TokensStore<'sync'>): void {
  tokens.resolveApiToken = (hash) => {
    const row = store.byHash(hash);
    return row ? resolvedApiToken(row) : null;
  };
}
