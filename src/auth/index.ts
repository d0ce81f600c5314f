export { keyPathFor, loadOrCreateKey } from './keys.js';
export { generateApiToken, hashApiToken, isApiToken, API_TOKEN_PREFIX } from './api-tokens.js';
export { TokenService, type ApiTokenResolver, type CredentialHeaders, ROLES, canRead, assertCanAct, assertRole, tokenFromHeaders, type Principal, type Role, type IssueOptions } from './tokens.js';
export { createApiToken, wireApiTokens, type CreatedToken } from './manage.js';
