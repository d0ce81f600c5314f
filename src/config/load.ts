import { readFileSync, existsSync } from 'node:fs';
import { resolve, extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from '../core/errors.js';
import { describeZodIssue } from '../core/validation.js';
import { applyGateway, gatewayDefaults } from './gateway.js';
import { applySafety } from './safety.js';
import { applyAlerts, deprecations } from './alerts.js';
import { layer, type Keys } from './layer.js';
import { DEFAULTS, fileSchema, type Config, type FileLayer, type ParsedLayer } from './schema.js';
import { checkToolsConfig } from './tools.js';

const AUTO_FILES = ['iron-cage.yaml', 'iron-cage.yml', 'iron-cage.toml'];

function validate(layer: unknown, where: (path: string) => string): ParsedLayer {
  const r = fileSchema.safeParse(layer);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    // The prefix names the source and the path; unknown keys carry their own full path.
    const unknownKeys = issue.code === 'unrecognized_keys';
    const prefix = where(unknownKeys ? '' : issue.path.map(String).join('.'));
    throw new ConfigError(prefix + describeZodIssue(unknownKeys ? issue : { ...issue, path: [] }, 'key'));
  }
  return r.data;
}

export function readConfigFile(path: string): ParsedLayer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(`config ${path}: ${code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code ?? String(e)})`}`);
  }
  let raw: unknown;
  const ext = extname(path).toLowerCase();
  try {
    if (ext === '.toml') raw = parseToml(text);
    else if (ext === '.yaml' || ext === '.yml') raw = parseYaml(text);
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

const ENV_KEYS: Record<string, { key: keyof FileLayer; kind: 'string' | 'int' | 'bool' }> = {
  IRON_CAGE_BUDGET: { key: 'budget', kind: 'string' },
  IRON_CAGE_PORT: { key: 'port', kind: 'int' },
  IRON_CAGE_HOST: { key: 'host', kind: 'string' },
  IRON_CAGE_DB: { key: 'db', kind: 'string' },
  IRON_CAGE_SAFETY_MODE: { key: 'safety_mode', kind: 'string' },
  IRON_CAGE_PYTHON: { key: 'python', kind: 'string' },
  IRON_CAGE_VERBOSE: { key: 'verbose', kind: 'bool' },
  IRON_CAGE_LOG_FORMAT: { key: 'log_format', kind: 'string' },
  IRON_CAGE_NAME: { key: 'name', kind: 'string' },
  IRON_CAGE_ALLOW_FAULTS: { key: 'allow_faults', kind: 'bool' },
  IRON_CAGE_ENV: { key: 'environment', kind: 'string' },
};

function convert(value: string, kind: 'string' | 'int' | 'bool', where: string): unknown {
  if (kind === 'string') return value;
  if (kind === 'int') {
    if (!/^\s*-?\d+\s*$/.test(value)) throw new ConfigError(`${where}: "${value}" is not a whole number`);
    return Number(value);
  }
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new ConfigError(`${where}: "${value}" is not true or false`);
}

export function envLayer(env: NodeJS.ProcessEnv): ParsedLayer {
  const layer: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  for (const [name, spec] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined) continue;
    layer[spec.key] = convert(value, spec.kind, name);
    origin[spec.key] = name;
  }
  if (env.IRON_CAGE_RESTART !== undefined) {
    layer.restart = { policy: env.IRON_CAGE_RESTART };
    origin.restart = 'IRON_CAGE_RESTART';
  }
  return validate(layer, (p) => `${origin[p.split('.')[0] ?? ''] ?? 'environment'}: `);
}

/** Flags arrive as strings (or booleans) from yargs; `names` maps schema keys back to flag names. */
export interface FlagValues {
  budget?: string;
  port?: string;
  host?: string;
  db?: string;
  safetyMode?: string;
  python?: string;
  verbose?: boolean;
  logFormat?: string;
  restart?: string;
  name?: string;
  exit?: boolean;
  allowFaults?: boolean;
  env?: string;
}

const FLAG_OF: Record<string, string> = {
  budget: '--budget',
  port: '--port',
  host: '--host',
  db: '--db',
  safety_mode: '--safety-mode',
  python: '--python',
  verbose: '--verbose',
  log_format: '--log-format',
  restart: '--restart',
  name: '--name',
  exit: '--exit',
  allow_faults: '--allow-faults',
  environment: '--env',
};

export function flagLayer(flags: FlagValues): ParsedLayer {
  const layer: Record<string, unknown> = {};
  const set = (key: string, v: unknown) => {
    if (v !== undefined) layer[key] = v;
  };
  set('budget', flags.budget);
  if (flags.port !== undefined) set('port', convert(String(flags.port), 'int', '--port'));
  set('host', flags.host);
  set('db', flags.db);
  set('safety_mode', flags.safetyMode);
  set('python', flags.python);
  set('verbose', flags.verbose);
  set('log_format', flags.logFormat);
  set('name', flags.name);
  set('exit', flags.exit);
  set('allow_faults', flags.allowFaults);
  set('environment', flags.env);
  if (flags.restart !== undefined) layer.restart = { policy: flags.restart };
  return validate(layer, (p) => `${FLAG_OF[p.split('.')[0] ?? ''] ?? 'flags'}: `);
}

/** Every key of the config, and where each comes from in a parsed layer. */
function configKeys(env: NodeJS.ProcessEnv): Keys<Config, ParsedLayer> {
  return {
    gateway: (l, cur) => applyGateway(cur, l, env),
    safety: (l, cur) => applySafety(cur, l),
    alerts: (l, cur) => applyAlerts(cur, l),
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
    adminTokenTtlHours: 'admin_token_ttl_hours',
    loginTokenTtlMinutes: 'login_token_ttl_minutes',
    agentTokenTtlHours: 'agent_token_ttl_hours',
    tools: 'tools',
    faults: 'faults',
    allowFaults: 'allow_faults',
    environment: 'environment',
    secrets: (l, cur) => layer(cur, l.secrets, { exposeProviderKeys: 'expose_provider_keys', restartOnRotation: 'restart_on_rotation' }),
    configFile: null,
    notices: null,
  };
}

const apply = (cfg: Config, l: ParsedLayer, env: NodeJS.ProcessEnv): Config => layer(cfg, l, configKeys(env));

export interface LoadOptions {
  /** Explicit --config (or IRON_CAGE_CONFIG); otherwise iron-cage.yaml|yml|toml in cwd if present. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  flags?: FlagValues;
  cwd?: string;
}

/** defaults < config file < IRON_CAGE_* env < flags. Throws ConfigError naming the culprit. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  let file = opts.configPath ?? env.IRON_CAGE_CONFIG;
  if (file === '') throw new ConfigError('--config: must not be empty');
  if (file === undefined) file = AUTO_FILES.map((f) => resolve(cwd, f)).find((f) => existsSync(f));
  let cfg: Config = { ...DEFAULTS, restart: { ...DEFAULTS.restart }, gateway: gatewayDefaults(env) };
  if (file !== undefined) {
    const where = resolve(cwd, file);
    const fromFile = readConfigFile(where);
    try {
      cfg = apply(cfg, fromFile, env);
    } catch (e) {
      // Price tables (the budget domain's) and the two webhook keys are judged while layering; say which file.
      throw e instanceof ConfigError ? new ConfigError(`config ${where}: ${e.message}`) : e;
    }
    cfg.configFile = where;
    cfg.notices = deprecations(fromFile).map((n) => `config ${where}: ${n}`);
  }
  cfg = apply(cfg, envLayer(env), env);
  cfg = apply(cfg, flagLayer(opts.flags ?? {}), env);
  cfg.db = resolve(cwd, cfg.db);
  if (cfg.restart.maxBackoffMs < cfg.restart.backoffMs) {
    throw new ConfigError(`restart.max_backoff_ms (${cfg.restart.maxBackoffMs}) must not be below restart.backoff_ms (${cfg.restart.backoffMs})`);
  }
  checkToolsConfig(cfg);
  return cfg;
}
