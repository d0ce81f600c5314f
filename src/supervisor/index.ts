export { AgentSupervisor, type AgentOutcome, type RestartPolicy, type SupervisorOptions } from './supervisor.js';
export { LocalProcess, LocalProcessRunner } from './local.js';
export { agentEnv, cageCredentials, sdkPath, type Withheld } from './env.js';
export type { AgentRunner, AgentProcess, RunSpec, ExitInfo, OutputStream } from './runner.js';
export { AGENT_EXTENSIONS, agentLanguage, type AgentLanguage } from './bootstrap.js';
