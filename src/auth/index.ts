export { keyPathFor, loadOrCreateKey } from './keys.js';
export { TokenService, type ApiTokenResolver, type CredentialHeaders, ROLES, canRead, assertCanAct, assertRole, type Principal, type Role, type IssueOptions } from './tokens.js';
export { createApiToken, wireApiTokens, type CreatedToken } from './manage.js';
