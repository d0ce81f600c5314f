import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the agent-side Python SDK lives: beside the bundle (dist/python) when built, or in
 * src/python when running from source (tests).
 */
export function sdkPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'python'), join(here, '..', 'python'), join(here, '..', '..', 'src', 'python')];
  const found = candidates.find((c) => existsSync(join(c, 'iron_cage', '__init__.py')));
  return found ?? candidates[0]!;
}

export interface AgentEnvOptions {
  base: NodeJS.ProcessEnv;
  url: string;
  agentId: string;
  token: string;
  restarts: number;
  extra?: Record<string, string>;
}

export function agentEnv(o: AgentEnvOptions): NodeJS.ProcessEnv {
  const pythonPath = [sdkPath(), o.base.PYTHONPATH].filter(Boolean).join(delimiter);
  // The vault's master key is iron-cage's alone: the agent gets the secrets, never the key.
  const { IRON_CAGE_MASTER_KEY: _key, ...base } = o.base;
  return {
    ...base,
    ...o.extra,
    IRON_CAGE_URL: o.url,
    IRON_CAGE_AGENT_ID: o.agentId,
    IRON_CAGE_TOKEN: o.token,
    IRON_CAGE_RESTARTS: String(o.restarts),
    IRON_CAGE_SUPERVISOR_PID: String(process.pid),
    PYTHONPATH: pythonPath,
    // Live output: the agent's lines should reach the terminal and dashboard as printed.
    PYTHONUNBUFFERED: '1',
  };
}
