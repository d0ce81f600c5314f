export { keyPathFor, loadOrCreateKey, readExistingKey, stateFileList, stateFilesFor } from './keys.js';
export {
  TokenService,
  API_TOKEN_CACHE_MS,
  RENEW_RUNTIME,
  RENEW_PANEL,
  renewCommand,
  AGENT_TOKEN_DEFAULT_TTL_SECONDS,
  AGENT_TOKEN_MAX_TTL_SECONDS,
  type RunToken,
  type ApiTokenResolver,
  type UserResolver,
  type ResolvedApiToken,
  type LiveUser,
  type IssueOptions,
} from './tokens.js';
export { ROLES, canRead, assertCanAct, assertRole, assertRuntime, type CredentialHeaders, type Principal, type Role, type TokenRole } from '../core/roles.js';
export { apiTokenName, createApiToken, resolvedApiToken, wireApiTokens, type CreatedToken } from './manage.js';
export { addUser, hashPassword, checkPassword, checkUserName, wireUsers, BAD_CREDENTIALS, USER_ROLES, PASSWORD_MIN, type UsersRepo } from './users.js';
export { LOGIN_WINDOW_MS, LoginService, type FailureCounter, type LoginResult, type LoginDeps } from './login.js';
export { mintLoginLink, newLoginLink, openSession, LINK_NAME, SESSION_NAME, type LinkStore, type LoginLink } from './links.js';
export { LoginLimiter } from './login-limiter.js';
export { generateApiToken, hashApiToken } from './api-tokens.js';
export { agentStanding, closedWords, type AgentBrief, type Standing } from './standing.js';
export { loginRoutes, userRoutes } from './users.routes.js';
export { authService } from './auth.service.js';
