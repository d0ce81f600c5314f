export { AgentSupervisor, type AgentOutcome, type RestartPolicy, type SupervisorOptions } from './supervisor.js';
export { LocalProcess, LocalProcessRunner } from './local.js';
export { agentEnv, cageCredentials, sdkPath, type Withheld } from './env.js';
export { stopWithGrace, type AgentRunner, type AgentProcess, type RunSpec, type ExitInfo, type OutputStream } from './runner.js';
export { AGENT_EXTENSIONS, agentLanguage, programPath, type AgentLanguage, type AgentProgram } from './bootstrap.js';
export { CODING_AGENTS, codingAgent, prepareHome, type CodingAgent } from './coding-agents.js';
