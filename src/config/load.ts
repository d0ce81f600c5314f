import { statSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from '../core/errors.js';
import { yaml } from '../core/on-first-use.js';
import { describeZodIssue, innermost } from '../core/validation.js';
import { applyGateway, gatewayDefaults } from './gateway.js';
import { applySafety, injectionWatched } from './safety.js';
import { applyAlerts, deprecations } from './alerts.js';
import { applyWatch } from './watch.js';
import { policySet } from './policies.js';
import { applySandbox, SANDBOX_DEFAULTS, scratchProblem } from './sandbox.js';
import { applyMetrics, applyTraces } from './observability.js';
import { applyPanel } from './panel.js';
import { readNamedFile } from './named-file.js';
import { layer, type Keys } from './layer.js';
import { DEFAULTS, fileSchema, type Config, type ParsedLayer } from './schema.js';
import { checkToolsConfig } from './tools.js';
import { checkPanelRefs } from './panel.js';
import { CONFIG_OPTIONS, flagOf, OPTIONS, type FlagValues, type OptionName, type OptionSpec } from './options.js';

const AUTO_FILES = ['iron-cage.yaml', 'iron-cage.yml', 'iron-cage.toml'];

/** A key that no longer does anything, said once at start like a deprecation. */
const RETIRED_ADMIN_TOKEN_TTL =
  'admin_token_ttl_hours is no longer used: the dashboard link printed at start is a one-time login (login_link_ttl_minutes) that opens a session (login_token_ttl_minutes); remove the key';

function validate(layer: unknown, where: (path: string) => string): ParsedLayer {
  const r = fileSchema.safeParse(layer);
  if (!r.success) {
    const issue = innermost(r.error.issues[0]!);
    // The prefix names the source and the path; unknown keys carry their own full path.
    const unknownKeys = issue.code === 'unrecognized_keys';
    const prefix = where(unknownKeys ? '' : issue.path.map(String).join('.'));
    throw new ConfigError(prefix + describeZodIssue(unknownKeys ? issue : { ...issue, path: [] }, 'key'));
  }
  return r.data;
}

/**
 * Whether a file found by its name in the working folder is a config: an empty one is not. While
 * a sandboxed agent runs, each name it could plant a config under is taken by an empty
 * placeholder (src/sandbox), removed when the run ends; one left by a run that never ended
 * (a killed process) must not hide the real config under the next name, nor stand for one.
 */
function holdsConfig(path: string): boolean {
  try {
    return statSync(path).size > 0;
  } catch {
    return false;
  }
}

export function readConfigFile(path: string): ParsedLayer {
  const text = readNamedFile(path, `config ${path}`);
  let raw: unknown;
  const ext = extname(path).toLowerCase();
  try {
    if (ext === '.toml') raw = parseToml(text);
    else if (ext === '.yaml' || ext === '.yml') raw = yaml().parse(text);
    else throw new ConfigError(`config ${path}: unsupported file type '${ext || '(none)'}' (use .yaml, .yml or .toml)`);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const first = String((e as Error).message).split('\n')[0];
    throw new ConfigError(`config ${path}: not valid ${ext === '.toml' ? 'TOML' : 'YAML'}: ${first}`);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config ${path}: the top level must be a mapping of keys`);
  return validate(raw, (p) => `config ${path}: ${p ? `${p}: ` : ''}`);
}

function convert(value: unknown, kind: OptionSpec['kind'], where: string): unknown {
  // yargs has already read a switch; a string option (or a repeated one) goes to the schema as it is.
  if (kind === 'string' || typeof value === 'boolean') return value;
  const text = String(value);
  if (kind === 'int') {
    if (!/^\s*-?\d+\s*$/.test(text)) throw new ConfigError(`${where}: "${text}" is not a whole number`);
    return Number(text);
  }
  const v = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new ConfigError(`${where}: "${text}" is not true or false`);
}

/**
 * One source's values (flags or variables) as a parsed layer: each declared option it sets,
 * read by its kind and put at its key, then validated with every error naming that source.
 */
function sourceLayer(found: (name: OptionName, o: OptionSpec) => [source: string, value: unknown] | null): ParsedLayer {
  const layer: Record<string, unknown> = {};
  const origin: Array<[key: string, source: string]> = [];
  for (const [name, o] of CONFIG_OPTIONS) {
    const hit = found(name, o);
    if (hit === null) continue;
    const [source, value] = hit;
    const path = o.key.split('.');
    let at = layer;
    for (const part of path.slice(0, -1)) at = (at[part] ??= {}) as Record<string, unknown>;
    at[path.at(-1)!] = convert(value, o.kind, source);
    origin.push([o.key, source]);
  }
  return validate(layer, (p) => `${origin.find(([k]) => p === k || p.startsWith(`${k}.`))?.[1] ?? 'command line'}: `);
}

/** The IRON_CAGE_* variables of the declared options. */
export const envLayer = (env: NodeJS.ProcessEnv): ParsedLayer => sourceLayer((_n, o) => (o.env === undefined || env[o.env] === undefined ? null : [o.env, env[o.env]]));

/** The flags of the declared options, as yargs parsed them (text and switches). */
export const flagLayer = (flags: FlagValues): ParsedLayer =>
  sourceLayer((name) => {
    const value = flags[name as keyof FlagValues];
    return value === undefined ? null : [flagOf(name), value];
  });

/** Every key of the config, and where each comes from in a parsed layer whose relative paths are in `dir`. */
function configKeys(env: NodeJS.ProcessEnv, dir: string): Keys<Config, ParsedLayer> {
  return {
    gateway: (l, cur) => applyGateway(cur, l, env, dir),
    safety: (l, cur) => applySafety(cur, l),
    alerts: (l, cur) => applyAlerts(cur, l),
    panel: (l, cur) => applyPanel(cur, l),
    metrics: (l, cur) => applyMetrics(cur, l),
    traces: (l, cur) => applyTraces(cur, l),
    watch: (l, cur) => applyWatch(cur, l),
    sandbox: (l, cur) => applySandbox(cur, l),
    budgetMicros: 'budget',
    port: 'port',
    host: 'host',
    db: 'db',
    safetyMode: 'safety_mode',
    python: 'python',
    verbose: 'verbose',
    logFormat: 'log_format',
    name: 'name',
    gracePeriodMs: 'grace_period_ms',
    exitWithAgent: 'exit',
    restart: (l, cur) => layer(cur, l.restart, { policy: 'policy', maxRestarts: 'max_restarts', backoffMs: 'backoff_ms', maxBackoffMs: 'max_backoff_ms' }),
    corsOrigins: 'cors_origins',
    allowedHosts: 'allowed_hosts',
    loginLinkTtlMinutes: 'login_link_ttl_minutes',
    loginTokenTtlMinutes: 'login_token_ttl_minutes',
    agentTokenTtlHours: 'agent_token_ttl_hours',
    tools: 'tools',
    mcp: 'mcp',
    policies: (l) => (l.policies === undefined ? undefined : policySet(l.policies)),
    faults: 'faults',
    allowFaults: 'allow_faults',
    environment: 'environment',
    secrets: (l, cur) => layer(cur, l.secrets, { exposeProviderKeys: 'expose_provider_keys', restartOnRotation: 'restart_on_rotation' }),
    database: 'database',
    tls: (l, cur) => layer(cur, l.tls, { cert: 'cert', key: 'key' }),
    leaseTtlMs: 'lease_ttl',
    leaseReclaimAfterMs: 'lease_reclaim_after',
    drainGraceMs: 'drain_grace',
    drainTimeoutMs: 'drain_timeout',
    configFile: null,
    notices: null,
  };
}

const apply = (cfg: Config, l: ParsedLayer, env: NodeJS.ProcessEnv, dir: string): Config => layer(cfg, l, configKeys(env, dir));

export interface LoadOptions {
  /** Explicit --config (or IRON_CAGE_CONFIG); otherwise iron-cage.yaml|yml|toml in cwd if present. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  flags?: FlagValues;
  cwd?: string;
}

/** Where `sandbox.mode` came from, in the words a user would change it with: the start says it beside the mode. */
function modeFrom(cfg: Config, flags: FlagValues, env: NodeJS.ProcessEnv): string | null {
  const mode = cfg.sandbox.mode;
  if (flags.sandbox !== undefined) return `${flagOf('sandbox')} ${mode}`;
  const variable = OPTIONS.sandbox.env!;
  if (env[variable] !== undefined) return `${variable}=${mode}`;
  if (cfg.configFile !== null && mode !== SANDBOX_DEFAULTS.mode) return `sandbox.mode: ${mode} in ${cfg.configFile}`;
  return null;
}

/** defaults < config file < IRON_CAGE_* env < flags. Throws ConfigError naming the culprit. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const configEnv = OPTIONS.config.env;
  let file = opts.configPath ?? env[configEnv];
  if (file === '') throw new ConfigError(`${opts.configPath === undefined ? configEnv : flagOf('config')}: must not be empty`);
  if (file === undefined) file = AUTO_FILES.map((f) => resolve(cwd, f)).find(holdsConfig);
  let cfg: Config = { ...DEFAULTS, restart: { ...DEFAULTS.restart }, gateway: gatewayDefaults(env) };
  if (file !== undefined) {
    const where = resolve(cwd, file);
    const fromFile = readConfigFile(where);
    try {
      cfg = apply(cfg, fromFile, env, dirname(where));
    } catch (e) {
      // Price tables (the budget domain's) and the two webhook keys are judged while layering; say which file.
      throw e instanceof ConfigError ? new ConfigError(`config ${where}: ${e.message}`) : e;
    }
    cfg.configFile = where;
    const retired = fromFile.admin_token_ttl_hours === undefined ? [] : [RETIRED_ADMIN_TOKEN_TTL];
    cfg.notices = [...deprecations(fromFile), ...retired].map((n) => `config ${where}: ${n}`);
  }
  cfg = apply(cfg, envLayer(env), env, cwd);
  cfg = apply(cfg, flagLayer(opts.flags ?? {}), env, cwd);
  cfg.sandbox = { ...cfg.sandbox, modeFrom: modeFrom(cfg, opts.flags ?? {}, env) };
  cfg.db = resolve(cwd, cfg.db);
  if (cfg.restart.maxBackoffMs < cfg.restart.backoffMs) {
    throw new ConfigError(`restart.max_backoff_ms (${cfg.restart.maxBackoffMs}) must not be below restart.backoff_ms (${cfg.restart.backoffMs})`);
  }
  const scratch = scratchProblem(cfg.sandbox.limits);
  if (scratch) throw new ConfigError(scratch);
  checkToolsConfig(cfg);
  checkPanelRefs(cfg);
  // A rule that waits on an injection no door looks for would never match, and nobody would know.
  const waiting = cfg.policies.rules.find((r) => r.afterInjection);
  if (waiting && !injectionWatched(cfg.safety.injection))
    throw new ConfigError(
      `policies rule ${waiting.label} matches after_injection, but safety.injection is off at every door: no injection would ever be seen and the rule would never match (set safety.injection to detect, warn or block)`,
    );
  return cfg;
}
