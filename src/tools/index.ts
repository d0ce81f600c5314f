// The tool egress proxy (`/tools/<service>/…`): the agent's external API calls go through a
// circuit breaker per service, fall back to a response cache and a placeholder, are scanned
// for PII and recorded. The breaker and fallback logic is src/reliability; this folder does
// the I/O around it.
import type { Service } from '../runtime/services.js';
import { toolsHandler } from './proxy.js';
import { toolRoutes } from './routes.js';
import { ToolsService, type ToolsContext, type ToolsOptions } from './service.js';

export { ToolsService, type ToolsContext, type ToolsOptions } from './service.js';
export { MAX_TOOL_BODY_BYTES } from './proxy.js';
export { TOOLS_PREFIX, baseUrl, parseToolUrl, upstreamUrl, type BaseUrl, type ParsedToolUrl, type ToolTarget } from './path.js';
export { guardRedactor, redactResponse, noRedaction, isTextual, type RedactedBody, type ResponseRedactor, type ToolPiiGuard } from './redact.js';
export { breakerView } from './routes.js';
export { transitionEvent } from './messages.js';
export { FaultBoard, MAX_FAULTS, type FaultView } from './faults.js';

/** The runtime's ServiceFactory for the tool proxy; it needs only part of the runtime's context. */
export function toolsService(ctx: ToolsContext, opts: ToolsOptions = {}): Service {
  const tools = new ToolsService(ctx, opts);
  return {
    name: 'tools',
    rawRoutes: [{ prefix: '/tools/', handle: toolsHandler(tools, ctx.tokens, ctx.logger) }],
    apiRoutes: [toolRoutes(tools)],
    announce: () => tools.announce(),
    close: () => tools.close(),
  };
}
