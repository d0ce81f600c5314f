import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Seconds each lead takes at least (`DEMO_PACE_S`): 100 leads in seconds, in 3 minutes, in 28 minutes. */
export const PACE_SECONDS = { fast: 0, default: 1.8, talk: 16.8 } as const;

/** The demo's own files: the agent, its leads, its config and its scenario. */
export interface DemoFiles {
  dir: string;
  agent: string;
  config: string;
  scenario: string;
}

/**
 * Where `demo/` is: beside dist/ when built, two levels up from src/demo when run from source.
 *
 * @example
 * const files = demoFiles(); // { dir: '/…/iron-cage/demo', agent: '/…/demo/lead_gen_agent.py', … }
 */
export function demoFiles(): DemoFiles {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'demo'), join(here, '..', '..', 'demo')];
  const dir = candidates.find((c) => existsSync(join(c, 'lead_gen_agent.py'))) ?? candidates[0]!;
  return { dir, agent: join(dir, 'lead_gen_agent.py'), config: join(dir, 'iron-cage.yaml'), scenario: join(dir, 'scenario.yaml') };
}
