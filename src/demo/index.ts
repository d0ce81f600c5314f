// The 100-lead conference demo: its scenario and mock services (demo-core), and what runs it
// on stage (the controller, the terminal, the SMTP sink, the results table). `iron-cage demo`
// (src/cli/demo.ts) puts them around one ordinary Runtime.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export { loadScenario, predictSpend, type Scenario } from './scenario.js';
export { startDemoServices, type DemoServices } from './services.js';
export { startController, DEFAULT_APPROVE_TIMEOUT_MS, type ControllerOptions, type Pace, type TriggerLeads } from './controller.js';
export { createTerminal, formatDuration, progressLine, type DemoProgress, type DemoTerminal } from './terminal.js';
export { startSmtpSink, type SinkMail, type SmtpSink } from './smtp-sink.js';
export { claimDataDir, dataDirFor, portFree } from './datadir.js';
export { fetchResults, resultsTable, type DemoResults } from './results.js';

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
