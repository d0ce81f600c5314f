import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.js';
import { configRef } from '../domain/secrets/index.js';

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
  /** What of iron-cage's must not reach the agent (cageCredentials). */
  withhold: Withheld;
  /** Variables of `base` a known coding agent must not get (coding-agents.ts: another provider, a login of its own). */
  drop?: RegExp;
}

/** Variables, by name and by value, that iron-cage keeps from the agent. */
export interface Withheld {
  names: ReadonlySet<string>;
  /** Credentials iron-cage holds: a variable whose value contains one is withheld too. */
  values: ReadonlySet<string>;
}

/** Where iron-cage reads a key from when the config does not say otherwise. */
const KEY_VARS = ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'IRON_CAGE_MASTER_KEY'];
/** The OTLP exporter's headers (a tracing backend's key: `x-honeycomb-team=…`, `Authorization=Basic …`): iron-cage's, never the agent's. */
const OTLP_HEADER_VARS = ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'OTEL_EXPORTER_OTLP_METRICS_HEADERS', 'OTEL_EXPORTER_OTLP_LOGS_HEADERS'];
const OTLP_ENDPOINT_VARS = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
/** iron-cage's own settings and secrets; the agent gets its own IRON_CAGE_* set instead. */
const OWN_PREFIX = 'IRON_CAGE_';
/** Shorter credentials are matched whole: a short string inside a value proves nothing. */
const CONTAINS_MIN = 8;
/** Header names that carry a credential (not `Accept: application/json`). */
const CREDENTIAL_HEADER = /auth|key|token|secret|cookie|session|password|signature/i;

/**
 * Every credential source the config and iron-cage itself name: the default key variables,
 * each `providers.*.api_key_env`, and the values of the keys, the master key, the alert and
 * PII webhooks and the tool services' configured headers, so a copy under any other name is
 * withheld as well.
 *
 * @example
 * const withhold = cageCredentials(config, process.env);
 * agentEnv({ base: process.env, url, agentId, token, restarts: 0, withhold });
 */
export function cageCredentials(config: Pick<Config, 'gateway' | 'tools' | 'alerts' | 'panel'>, env: NodeJS.ProcessEnv): Withheld {
  const names = new Set(KEY_VARS);
  const values = new Set<string>();
  const add = (v: string | null | undefined) => {
    if (v) values.add(v);
  };
  for (const p of [config.gateway.providers.openai, config.gateway.providers.anthropic]) {
    if (p.apiKeyEnv) {
      names.add(p.apiKeyEnv);
      add(env[p.apiKeyEnv]);
    }
    if (p.apiKey && !configRef(p.apiKey)) add(p.apiKey);
  }
  for (const n of KEY_VARS) add(env[n]);
  const { webhookUrl, email } = config.alerts;
  add(webhookUrl);
  // Tool services' configured headers (Authorization and the like) written in the config; the
  // `${secret:…}` and `${panel:…}` ones come from a vault, whose values only the proxy ever holds.
  for (const service of Object.values(config.tools)) {
    for (const [name, v] of Object.entries(service.headers)) if (CREDENTIAL_HEADER.test(name) && !v.includes('${secret:') && !v.includes('${panel:')) add(v);
  }
  // The runtime token the reporter sends to the control panel (a `secret:` one stays in the vault).
  const panelToken = config.panel.token;
  if (panelToken && !configRef(panelToken)) add(panelToken);
  if (email) {
    add(email.smtpUrl);
    add(safeUrl(email.smtpUrl)?.password);
  }
  // The trace exporter's credentials: its header variables whole, each header's value, and a
  // password in the collector's URL (the agent may still trace to a collector with its own key).
  for (const n of OTLP_HEADER_VARS) {
    names.add(n);
    for (const pair of (env[n] ?? '').split(',')) {
      const at = pair.indexOf('=');
      if (at > 0) add(safeDecode(pair.slice(at + 1).trim()));
    }
  }
  for (const n of OTLP_ENDPOINT_VARS) {
    const u = env[n] ? safeUrl(env[n]!) : null;
    if (u?.password) add(env[n]);
  }
  return { names, values };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function safeUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

function withheld(name: string, value: string | undefined, w: Withheld): boolean {
  if (w.names.has(name) || name.startsWith(OWN_PREFIX)) return true;
  if (!value) return false;
  for (const secret of w.values) if (secret.length >= CONTAINS_MIN ? value.includes(secret) : value === secret) return true;
  return false;
}

/**
 * Other names clients read for what `extra` sets (the gateway's base URLs and keys), set to the
 * same value: OPENAI_API_BASE (openai-python 0.x, LiteLLM and the tools built on it, such as
 * aider), ANTHROPIC_AUTH_TOKEN (the Anthropic SDKs and Claude Code send it as a Bearer token,
 * which the gateway reads before x-api-key: one of the user's own would be refused).
 */
const ALIASES: ReadonlyArray<[alias: string, of: string]> = [
  ['OPENAI_API_BASE', 'OPENAI_BASE_URL'],
  ['ANTHROPIC_AUTH_TOKEN', 'ANTHROPIC_API_KEY'],
];

/**
 * The agent's environment: iron-cage's own, minus every credential iron-cage reads or holds
 * (docs/agents.md: the agent's environment), plus what the agent should have.
 *
 * @example
 * spawn('python3', [script], { env: agentEnv({ base: process.env, url, agentId, token, restarts: 0, withhold }) });
 */
export function agentEnv(o: AgentEnvOptions): NodeJS.ProcessEnv {
  const pythonPath = [sdkPath(), o.base.PYTHONPATH].filter(Boolean).join(delimiter);
  const base: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(o.base)) if (!withheld(name, value, o.withhold) && !o.drop?.test(name)) base[name] = value;
  const aliases: Record<string, string> = {};
  for (const [alias, of] of ALIASES) if (o.extra?.[of] !== undefined) aliases[alias] = o.extra[of];
  return {
    ...base,
    ...aliases,
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
