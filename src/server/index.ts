export { routeTable, startServer, tryListen, type RouteRow, type RunningServer, type ServerOptions } from './http.js';
export type { AgentControl, AppEnv, Authenticator, FeedSource, RawRoute, ServerDeps, UpgradeRoute } from './context.js';
export { Loopback, memoryConnection, type LoopbackRequest } from './loopback.js';
export { readableAgent } from './readable.js';
export { StateFeed } from './state-feed.js';
export { WS_COALESCE, WsHub, type HubDeps } from './ws.js';
export type { Platform, SecretRefsLike, Service } from './service.js';
export { bodyText, DEFAULT_RETRY_AFTER_S, errorAnswer, parseJsonBody, parseWith, readJsonBody, rawJsonAnswer, toErrorResponse, upgradeRefusal, type ErrorAnswer } from './errors.js';
export { BodyReadError, collect, decodeBody, decodeStream, type DecodedBody, JsonTooDeepError, jsonDepth, MAX_JSON_DEPTH, parseBoundedJson, readBody, readBodyAhead, sendJson } from './io.js';
export { clientGone, onHangUp } from './hang-up.js';
// What the dashboard reads (type only: web/ imports these, and nothing of the server is bundled).
export type { Whoami } from './app.js';
export type { CutEvent, FeedEvent, WsFrame } from './ws-frames.js';
