export { StateManager } from './manager.js';
export { SCHEMA_VERSION } from './migrations.js';
export type { AgentView, AgentPatch, NewAgent, Checkpoint, AgentKind } from './types.js';
