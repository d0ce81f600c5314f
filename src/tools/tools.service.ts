import type { Observer } from '../observability/index.js';
import { toolsHandler } from './handler.js';
import { ToolProxy, type ToolsContext, type ToolsOptions } from './proxy.js';
import { toolRoutes } from './tools.routes.js';
import type { Service } from '../server/index.js';
import type { AgentGate } from '../watch/index.js';
import type { PolicyGate } from '../approvals/index.js';

/** The tool egress proxy for the runtime: `/tools/<service>/…`, its routes, start-up lines and shutdown. */
export function toolsService(ctx: ToolsContext & { observer?: Pick<Observer, 'toolCall'>; gate?: AgentGate; policy?: Pick<PolicyGate, 'check'> }, opts: ToolsOptions = {}): Service {
  const tools = new ToolProxy(ctx, opts);
  return {
    name: 'tools',
    rawRoutes: [{ prefix: '/tools/', handle: toolsHandler(tools, ctx) }],
    apiRoutes: [toolRoutes(tools)],
    announce: () => tools.announce(),
    close: () => tools.close(),
  };
}
