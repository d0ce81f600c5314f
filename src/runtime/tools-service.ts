import { toolRoutes, toolsHandler, ToolsService, type ToolsContext, type ToolsOptions } from '../tools/index.js';
import type { Service } from './services.js';

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
