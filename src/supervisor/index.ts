export { AgentSupervisor, type AgentOutcome, type RestartPolicy, type SupervisorOptions } from './supervisor.js';
export { LocalProcessRunner } from './local.js';
export { agentEnv, sdkPath } from './env.js';
export { LineSplitter } from './lines.js';
export type { AgentRunner, AgentProcess, RunSpec, ExitInfo, OutputStream } from './runner.js';
