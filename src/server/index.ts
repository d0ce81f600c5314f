export { routeTable, startServer, type RouteRow, type RunningServer, type ServerOptions } from './http.js';
export type { AgentControl, AppEnv, Authenticator, RawRoute, ServerDeps } from './context.js';
export type { Platform, SecretRefsLike, Service } from './service.js';
export { errorAnswer, parseJsonBody, parseWith, toErrorResponse, type ErrorAnswer } from './errors.js';
export { BodyReadError, collect, JsonTooDeepError, jsonDepth, MAX_JSON_DEPTH, parseBoundedJson, readBody, sendJson } from './io.js';
