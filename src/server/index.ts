export { startServer, type RunningServer, type ServerOptions } from './http.js';
export type { AgentControl, ServerDeps } from './context.js';
export { HostGuard } from './hosts.js';
