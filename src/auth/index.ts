export { keyPathFor, loadOrCreateKey } from './keys.js';
export { TokenService, ROLES, canRead, assertCanAct, assertRole, tokenFromHeaders, type Principal, type Role, type IssueOptions } from './tokens.js';
