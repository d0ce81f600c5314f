// The tool egress proxy (`/tools/<service>/…`): the agent's external API calls go through a
// circuit breaker per service, fall back to a response cache and a placeholder, are scanned
// for PII and recorded. The breaker and fallback logic is src/domain/reliability; this folder does
// the I/O around it.

export { ToolProxy, type ToolsContext, type ToolsOptions } from './proxy.js';
export { toolsService } from './tools.service.js';
export { MAX_TOOL_BODY_BYTES, toolsHandler } from './handler.js';
export { TOOLS_PREFIX, baseUrl, parseToolUrl, recordedPath, upstreamUrl, type BaseUrl, type ParsedToolUrl, type ToolTarget } from './path.js';
export {
  guardHeaderRedactor,
  guardRedactor,
  redactHeaders,
  redactResponse,
  type HeaderRedactor,
  type RedactedBody,
  type RedactedHeaders,
  type ResponseRedactor,
  type ToolPiiGuard,
} from './redact.js';
export { guardUnreadable, modeUnreadable, type UnreadableRule } from './unreadable.js';
export { toolRoutes } from './tools.routes.js';
export { FaultBoard, MAX_FAULTS, type FaultView } from './faults.js';
export type { ToolBreakersResponse } from './details.js';
