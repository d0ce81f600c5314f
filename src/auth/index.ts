export { keyPathFor, loadOrCreateKey, readExistingKey, stateFilesFor } from './keys.js';
export {
  TokenService,
  AGENT_TOKEN_DEFAULT_TTL_SECONDS,
  AGENT_TOKEN_MAX_TTL_SECONDS,
  type RunToken,
  type ApiTokenResolver,
  type UserResolver,
  type CredentialHeaders,
  ROLES,
  canRead,
  assertCanAct,
  assertRole,
  type Principal,
  type Role,
  type IssueOptions,
} from './tokens.js';
export { createApiToken, wireApiTokens, type CreatedToken } from './manage.js';
export { addUser, hashPassword, checkPassword, checkUserName, wireUsers, USER_ROLES, PASSWORD_MIN } from './users.js';
export { LoginService, type LoginResult, type LoginDeps } from './login.js';
export { LoginLimiter } from './login-limiter.js';
