import { isIP } from 'node:net';
import * as z from 'zod';
import { parseDuration } from '../core/duration.js';
import { usdInput } from '../core/validation.js';
import type { FaultConfig } from '../domain/reliability/index.js';
import { mcpSchema, type McpServerConfig } from './mcp.js';
import { policiesSchema } from './policies.js';
import type { PolicySet } from '../domain/policy/index.js';
import { faultsSchema, toolsSchema, type ToolServiceConfig } from './tools.js';
import { GATEWAY_DEFAULTS, gatewayFileSchema, type GatewayConfig } from './gateway.js';
import { SAFETY_DEFAULTS, safetyFileSchema, type SafetyConfig } from './safety.js';
import { ALERTS_DEFAULTS, alertsFileSchema, type AlertsConfig } from './alerts.js';
import { PANEL_DEFAULTS, panelFileSchema, type PanelConfig } from './panel.js';
import { WATCH_DEFAULTS, watchFileSchema, type WatchConfig } from './watch.js';
import { SANDBOX_DEFAULTS, sandboxFileSchema, type SandboxConfig } from './sandbox.js';
import { METRICS_DEFAULTS, observabilityFileSchema, TRACES_DEFAULTS, type MetricsConfig, type TracesConfig } from './observability.js';

// The config file is snake_case (YAML or TOML); every layer (file, env, flags) is validated
// against this one schema on its own, so an error names where the bad value came from.

const budget = usdInput();

/**
 * A host to listen on or to name in a link: a name of DNS labels (an IPv4 address among them;
 * letters of any script), or an IPv6 address (with its zone), never with a port, scheme or path.
 */
const HOST_NAME = /^[\p{L}\p{N}_](?:[\p{L}\p{N}_-]{0,61}[\p{L}\p{N}_])?(?:\.[\p{L}\p{N}_](?:[\p{L}\p{N}_-]{0,61}[\p{L}\p{N}_])?)*\.?$/u;
const isHost = (host: string): boolean => (host.includes(':') ? isIP(host.replace(/%[\w.-]+$/, '')) === 6 : HOST_NAME.test(host));

const port = z.number().int('must be a whole number').min(0, 'must be 0-65535').max(65535, 'must be 0-65535');
const nonNegInt = z.number().int('must be a whole number').min(0, 'must be 0 or more');
const posInt = z.number().int('must be a whole number').min(1, 'must be 1 or more');
/** A duration written `500ms`, `30s`, `2m`, `1h` (or a number of milliseconds), within bounds, as milliseconds. */
const duration = (minMs: number, maxMs: number, min: string, max: string) =>
  z.union([z.number(), z.string()]).transform((v, ctx): number => {
    const ms = typeof v === 'number' ? (Number.isInteger(v) && v >= 0 ? v : null) : parseDuration(v);
    const why = ms === null ? `"${v}" is not a duration (write 500ms, 30s, 2m, 1h or 1d)` : ms < minMs ? `must be at least ${min}` : ms > maxMs ? `must be at most ${max}` : null;
    if (why !== null) {
      ctx.addIssue({ code: 'custom', message: why });
      return z.NEVER;
    }
    return ms!;
  });
const origin = z.string().regex(/^https?:\/\/[^/\s]+$/, 'must be an origin like http://localhost:5173');

export const fileSchema = z.strictObject({
  budget: budget.optional(),
  port: port.optional(),
  host: z.string().min(1, 'must not be empty').refine(isHost, 'must be a host name or an IP address (like 127.0.0.1, 0.0.0.0, ::1 or cage.example.com), without a scheme, port or path').optional(),
  db: z
    .string()
    .min(1, 'must not be empty')
    .refine((v) => !/(^|\/)\.{0,2}$/.test(v), "names a folder: give the state file's path, e.g. data/iron_state.db")
    .optional(),
  safety_mode: z.enum(['redact', 'block', 'warn']).optional(),
  python: z.string().min(1, 'must not be empty').optional(),
  verbose: z.boolean().optional(),
  log_format: z.enum(['pretty', 'json']).optional(),
  name: z.string().min(1, 'must not be empty').max(100, 'must be at most 100 characters').optional(),
  grace_period_ms: nonNegInt.max(600_000, 'must be at most 600000 (10 minutes)').optional(),
  exit: z.boolean().optional(),
  restart: z
    .strictObject({
      policy: z.enum(['on-failure', 'never']).optional(),
      max_restarts: nonNegInt.max(1000, 'must be at most 1000').optional(),
      backoff_ms: nonNegInt.max(60_000, 'must be at most 60000').optional(),
      max_backoff_ms: nonNegInt.max(300_000, 'must be at most 300000').optional(),
    })
    .optional(),
  cors_origins: z.array(origin).optional(),
  allowed_hosts: z.array(z.string().min(1)).optional(),
  /** The control panel's PostgreSQL (`iron-cage panel`). */
  database: z.string().min(1, 'must not be empty').optional(),
  /** The control panel's central budget leases: how long one lives unrenewed, and how long after it expired it is reclaimed. */
  lease_ttl: duration(100, 3_600_000, '100ms', '1h').optional(),
  lease_reclaim_after: duration(0, 7 * 86_400_000, '0ms', '7d').optional(),
  /** A stopping control panel replica: how long it goes on serving once it says it is not ready (the load balancer moves away), and how long it waits for what is in flight. */
  drain_grace: duration(0, 300_000, '0ms', '5m').optional(),
  drain_timeout: duration(100, 600_000, '100ms', '10m').optional(),
  /** HTTPS for the control panel: PEM files. */
  tls: z.strictObject({ cert: z.string().min(1, 'must not be empty').optional(), key: z.string().min(1, 'must not be empty').optional() }).optional(),
  /** Retired (see retiredKeys): still read, so an old file keeps working, and ignored. */
  admin_token_ttl_hours: posInt.max(24 * 365, 'must be at most 8760').optional(),
  login_link_ttl_minutes: posInt.max(24 * 60, 'must be at most 1440 (a day)').optional(),
  login_token_ttl_minutes: posInt.max(7 * 24 * 60, 'must be at most 10080 (a week)').optional(),
  agent_token_ttl_hours: posInt.max(24 * 365, 'must be at most 8760').optional(),
  tools: toolsSchema.optional(),
  mcp: mcpSchema.optional(),
  policies: policiesSchema.optional(),
  faults: faultsSchema.optional(),
  allow_faults: z.boolean().optional(),
  secrets: z.strictObject({ expose_provider_keys: z.boolean().optional(), restart_on_rotation: z.boolean().optional() }).optional(),
  environment: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be 1-64 characters of a-z, 0-9, _ and -, starting with a letter or digit')
    .optional(),
  ...gatewayFileSchema,
  ...safetyFileSchema,
  ...alertsFileSchema,
  ...panelFileSchema,
  ...observabilityFileSchema,
  ...watchFileSchema,
  ...sandboxFileSchema,
});

export type FileLayer = z.input<typeof fileSchema>;
export type ParsedLayer = z.output<typeof fileSchema>;

export interface Config {
  budgetMicros: number | null;
  port: number;
  host: string;
  db: string;
  safetyMode: 'redact' | 'block' | 'warn';
  python: string;
  verbose: boolean;
  logFormat: 'pretty' | 'json';
  name: string | null;
  gracePeriodMs: number;
  exitWithAgent: boolean;
  restart: { policy: 'on-failure' | 'never'; maxRestarts: number; backoffMs: number; maxBackoffMs: number };
  corsOrigins: string[];
  allowedHosts: string[];
  /** How long the one-time dashboard login link printed at start (or by `iron-cage dashboard`) can be used. */
  loginLinkTtlMinutes: number;
  /** Life of a dashboard session: the token a named user gets from POST /api/login, or a login link from POST /api/session. */
  loginTokenTtlMinutes: number;
  /** Most a supervised agent process's token lives (it is revoked earlier, when the process ends). */
  agentTokenTtlHours: number;
  /** Upstreams of the tool egress proxy (/tools/<service>/…), by service name. */
  tools: Record<string, ToolServiceConfig>;
  /** MCP servers the agent reaches through the cage (/mcp/<server>), by name (`mcp.servers`). */
  mcp: Record<string, McpServerConfig>;
  /** What may pass the cage: the rules every tool-proxy call and MCP tools/call is decided by (src/approvals). */
  policies: PolicySet;
  /** Fault plans from the config file (demos, tests); off unless listed. */
  faults: FaultConfig[];
  /** Lets fault injection be used on a non-loopback bind. */
  allowFaults: boolean;
  /** The run's secrets environment: which of the vault's secrets the agent gets. */
  environment: string;
  /** true: secrets named OPENAI_API_KEY / ANTHROPIC_API_KEY reach the agent in place of its gateway token. */
  /** restartOnRotation: restart an agent with no SIGUSR1 handler when one of its secrets changes. */
  secrets: { exposeProviderKeys: boolean; restartOnRotation: boolean };
  /** The control panel's PostgreSQL URL (`iron-cage panel --database`); null: none given. */
  database: string | null;
  /** HTTPS for the control panel: the certificate and key PEM files (both or neither). */
  tls: { cert: string | null; key: string | null };
  /** The control panel's central budget leases: a lease lives this long unrenewed (`--lease-ttl`). */
  leaseTtlMs: number;
  /** A silent runtime's lease is reclaimed this long after it expired (`--lease-reclaim-after`). */
  leaseReclaimAfterMs: number;
  /** A stopping panel replica serves this long after its readiness says 503, when another replica is alive (`--drain-grace`). */
  drainGraceMs: number;
  /** …then waits this long for the requests in flight before it cuts them (`--drain-timeout`). */
  drainTimeoutMs: number;
  /** The file the config came from, if any (for messages). */
  configFile: string | null;
  gateway: GatewayConfig;
  safety: SafetyConfig;
  /** Where alerts go: budget thresholds and PII findings, through one dispatcher. */
  alerts: AlertsConfig;
  /** The control panel this runtime reports to (src/report); off while `url` is null. */
  panel: PanelConfig;
  /** GET /metrics (observability/): on by default, loopback scrapers need no token. */
  metrics: MetricsConfig;
  /** OpenTelemetry traces: exported only with OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT set. */
  traces: TracesConfig;
  /** Loops, stalls and spend spikes the runtime watches for (src/watch), and what it does about each. */
  watch: WatchConfig;
  /** How the agent is confined (src/sandbox): files, network, processes, limits. */
  sandbox: SandboxConfig;
  /** What the config file should change (deprecated keys, each with its replacement): said once at start. */
  notices: string[];
}

export const DEFAULTS: Config = {
  budgetMicros: null,
  port: 8080,
  host: '127.0.0.1',
  db: './iron_state.db',
  safetyMode: 'redact',
  python: 'python3',
  verbose: false,
  logFormat: 'pretty',
  name: null,
  gracePeriodMs: 10_000,
  exitWithAgent: false,
  restart: { policy: 'on-failure', maxRestarts: 5, backoffMs: 1000, maxBackoffMs: 4000 },
  corsOrigins: [],
  allowedHosts: [],
  loginLinkTtlMinutes: 15,
  loginTokenTtlMinutes: 480,
  agentTokenTtlHours: 24,
  tools: {},
  mcp: {},
  policies: { default: 'allow', rules: [] },
  faults: [],
  allowFaults: false,
  environment: 'development',
  secrets: { exposeProviderKeys: false, restartOnRotation: false },
  database: null,
  tls: { cert: null, key: null },
  leaseTtlMs: 30_000,
  leaseReclaimAfterMs: 600_000,
  drainGraceMs: 3_000,
  drainTimeoutMs: 15_000,
  configFile: null,
  gateway: GATEWAY_DEFAULTS,
  safety: SAFETY_DEFAULTS,
  alerts: ALERTS_DEFAULTS,
  panel: PANEL_DEFAULTS,
  metrics: METRICS_DEFAULTS,
  traces: TRACES_DEFAULTS,
  watch: WATCH_DEFAULTS,
  sandbox: SANDBOX_DEFAULTS,
  notices: [],
};
