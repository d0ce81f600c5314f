export { AgentSupervisor, type AgentOutcome, type RestartPolicy, type SupervisorOptions } from './supervisor.js';
export { LocalProcessRunner } from './local.js';
export { agentEnv } from './env.js';
export type { AgentRunner, AgentProcess, RunSpec, ExitInfo, OutputStream } from './runner.js';
