import * as z from 'zod';
import { fileSchema } from './schema.js';

// The command line's shared options, each declared once: its flag, its IRON_CAGE_* variable, the
// config key it sets, how its text is read, its help line and the commands that take it. The
// yargs options (cli/options.ts), the flag and environment layers and the source an error names
// (load.ts) are all derived from this table, so a flag and its variable cannot drift apart.
// Options only one command takes for itself (`demo --pace`, `audit --reveal`) stay with it.

export type Command = 'start' | 'serve' | 'demo' | 'dashboard' | 'token' | 'secrets' | 'user' | 'audit' | 'redact' | 'scan' | 'panel';

export interface OptionSpec {
  /** How its text is read: as it is, as a whole number, or as a switch (`--x`, `--no-x`; `1`/`true`/`yes`/`on` in a variable). */
  kind: 'string' | 'int' | 'bool';
  /** The config-file key it sets, dotted when nested; none: the commands read it themselves. */
  key?: string;
  /** The variable that sets the same key, between the config file and the flag. */
  env?: `IRON_CAGE_${string}`;
  describe: string;
  /** The commands that take it; a string is that command's own help line, where the option means more there. */
  commands: Partial<Record<Command, true | string>>;
}

const SERVER = { start: true, serve: true } as const;
const FILES = { ...SERVER, dashboard: true, token: true, secrets: true, user: true, audit: true } as const;

/** By the name yargs gives the parsed value (camelCase); the flag is its kebab-case. */
export const OPTIONS = {
  budget: {
    kind: 'string',
    key: 'budget',
    env: 'IRON_CAGE_BUDGET',
    describe: 'Spend limit in dollars: 50, 50.00 or $50 (quote the $)',
    commands: { start: true, token: 'For create: the agent budget in dollars' },
  },
  port: {
    kind: 'int',
    key: 'port',
    env: 'IRON_CAGE_PORT',
    describe: 'Port for the dashboard, REST API and gateway [default: 8080]',
    commands: { ...SERVER, demo: true, dashboard: 'The port iron-cage serves on, for the link [default: 8080]', panel: 'Port for the control panel (dashboard, REST API, telemetry) [default: 8080]' },
  },
  host: {
    kind: 'string',
    key: 'host',
    env: 'IRON_CAGE_HOST',
    describe: 'Address to bind [default: 127.0.0.1]',
    commands: {
      ...SERVER,
      dashboard: 'The address iron-cage serves on, for the link [default: 127.0.0.1]',
      panel: 'Address to bind [default: 127.0.0.1]; beyond loopback it needs --tls-cert and --tls-key',
    },
  },
  db: { kind: 'string', key: 'db', env: 'IRON_CAGE_DB', describe: 'SQLite state file [default: ./iron_state.db]', commands: { ...FILES, demo: "The demo's SQLite file [default: ./iron_demo.db]" } },
  database: {
    kind: 'string',
    key: 'database',
    env: 'IRON_CAGE_DATABASE',
    describe: "The control panel's PostgreSQL: postgres://user[:password]@host[:port]/database",
    commands: { panel: true },
  },
  leaseTtl: {
    kind: 'string',
    key: 'lease_ttl',
    env: 'IRON_CAGE_LEASE_TTL',
    describe: "How long a runtime's central budget lease lives without a renewal: 500ms, 30s, 2m [default: 30s]",
    commands: { panel: true },
  },
  leaseReclaimAfter: {
    kind: 'string',
    key: 'lease_reclaim_after',
    env: 'IRON_CAGE_LEASE_RECLAIM_AFTER',
    describe:
      "How long a runtime may stay silent past its lease's expiry before it is taken as gone and the unspent part of its lease returns to the budget (a partitioned runtime spends its lease until expiry; sooner: panel runtime rm) [default: 10m]",
    commands: { panel: true },
  },
  drainGrace: {
    kind: 'string',
    key: 'drain_grace',
    env: 'IRON_CAGE_DRAIN_GRACE',
    describe:
      'How long a stopping panel replica goes on serving after /readyz says 503, so a load balancer moves its traffic to the others first (only while another replica is alive): 0s, 3s [default: 3s]',
    commands: { panel: true },
  },
  drainTimeout: {
    kind: 'string',
    key: 'drain_timeout',
    env: 'IRON_CAGE_DRAIN_TIMEOUT',
    describe: 'How long a stopping panel waits for the requests in flight before it cuts them: 15s, 1m [default: 15s]',
    commands: { panel: true },
  },
  tlsCert: { kind: 'string', key: 'tls.cert', env: 'IRON_CAGE_TLS_CERT', describe: 'TLS certificate (PEM file): serve HTTPS (with --tls-key)', commands: { panel: true } },
  tlsKey: { kind: 'string', key: 'tls.key', env: 'IRON_CAGE_TLS_KEY', describe: 'TLS private key (PEM file) for --tls-cert', commands: { panel: true } },
  config: {
    kind: 'string',
    env: 'IRON_CAGE_CONFIG',
    describe: 'Config file (.yaml, .yml or .toml) [default: ./iron-cage.yaml if present]',
    commands: {
      ...FILES,
      panel: true,
      redact: 'Config file (its safety: section applies) [default: ./iron-cage.yaml if present]',
      scan: 'Config file (its safety: section applies) [default: ./iron-cage.yaml if present]',
    },
  },
  safetyMode: {
    kind: 'string',
    key: 'safety_mode',
    env: 'IRON_CAGE_SAFETY_MODE',
    describe: 'What to do with PII in LLM output [default: redact]',
    commands: { start: true, redact: 'Policy [default: redact]' },
  },
  python: { kind: 'string', key: 'python', env: 'IRON_CAGE_PYTHON', describe: 'Python interpreter for a .py agent [default: python3]', commands: { start: true } },
  verbose: { kind: 'bool', key: 'verbose', env: 'IRON_CAGE_VERBOSE', describe: 'Debug logging', commands: { ...SERVER, panel: true } },
  logFormat: { kind: 'string', key: 'log_format', env: 'IRON_CAGE_LOG_FORMAT', describe: 'Terminal log format [default: pretty]', commands: { ...SERVER, panel: true } },
  restart: { kind: 'string', key: 'restart.policy', env: 'IRON_CAGE_RESTART', describe: 'Restart the agent when it crashes [default: on-failure]', commands: { start: true } },
  name: {
    kind: 'string',
    key: 'name',
    env: 'IRON_CAGE_NAME',
    describe: "The agent's name, which central budgets and tokens match (shown unless it names itself through the SDK) [default: the script name]",
    commands: { start: true, token: 'For create: a name for the token (and its agent)' },
  },
  exit: { kind: 'bool', key: 'exit', describe: "Exit with the agent's exit code when it ends (for scripts and CI)", commands: { start: true } },
  allowFaults: { kind: 'bool', key: 'allow_faults', env: 'IRON_CAGE_ALLOW_FAULTS', describe: 'Allow fault injection (POST /api/faults) on a non-loopback --host', commands: SERVER },
  env: {
    kind: 'string',
    key: 'environment',
    env: 'IRON_CAGE_ENV',
    describe: 'The secrets environment the agent gets [default: development]',
    commands: { start: true, secrets: 'Secrets environment [default: development]' },
  },
  sandbox: {
    kind: 'string',
    key: 'sandbox.mode',
    env: 'IRON_CAGE_SANDBOX',
    describe:
      'Confine the agent (files, network, processes): auto sandboxes where the system allows and says why not elsewhere, on refuses to start without it, off runs it with your rights [default: auto]',
    commands: { start: true, demo: true },
  },
  panel: {
    kind: 'string',
    key: 'panel.url',
    env: 'IRON_CAGE_PANEL',
    describe: 'Report telemetry to this control panel (https://panel:8443); the agent never waits on it',
    commands: SERVER,
  },
  panelToken: {
    kind: 'string',
    key: 'panel.token',
    env: 'IRON_CAGE_PANEL_TOKEN',
    describe: 'The runtime token (ic_rt_…) the panel gave this runtime; prefer the variable (a flag shows in ps)',
    commands: SERVER,
  },
  panelCa: { kind: 'string', key: 'panel.ca', env: 'IRON_CAGE_PANEL_CA', describe: "PEM file of the panel's CA (a private CA or a self-signed certificate)", commands: SERVER },
  json: {
    kind: 'bool',
    describe: 'Machine-readable output',
    commands: {
      dashboard: true,
      panel: 'For panel runtime, panel budget and panel link: machine-readable output',
      token: true,
      secrets: true,
      user: true,
      audit: true,
      scan: 'One JSON object per line: {"spans":[{"start","end","type","risk"}]} (input lines {"id","text"} echo the id)',
    },
  },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** The options that set a config key, as the flag layer takes them from yargs. */
export type FlagValues = {
  [N in OptionName as (typeof OPTIONS)[N] extends { key: string } ? N : never]?: (typeof OPTIONS)[N]['kind'] extends 'bool' ? boolean : string;
};

/** `safetyMode` → `--safety-mode`. */
export const flagOf = (name: string): string => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The options that set config keys, with their names. */
export const CONFIG_OPTIONS = (Object.entries(OPTIONS) as Array<[OptionName, OptionSpec]>).filter((e): e is [OptionName, OptionSpec & { key: string }] => e[1].key !== undefined);

/**
 * The values a key takes, when the config schema lists them: help shows them, and the config
 * layers refuse anything else with the same message whatever the source.
 * @example choicesOf('restart.policy') // ['on-failure', 'never']
 */
export function choicesOf(key: string): readonly string[] | undefined {
  let s: z.ZodType | undefined = fileSchema;
  for (const part of key.split('.')) {
    while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
    s = s instanceof z.ZodObject ? (s.shape as Record<string, z.ZodType>)[part] : undefined;
  }
  while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
  return s instanceof z.ZodEnum ? (s.options as string[]) : undefined;
}
