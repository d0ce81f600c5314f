import { faultsPermitted } from '../config/index.js';
import { ConfigError } from '../core/errors.js';
import type { NewEvent } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { CacheLookup, FallbackReason, Tier } from '../domain/reliability/index.js';
import type { Authenticator, SecretRefsLike } from '../server/index.js';
import type { Config } from '../config/index.js';
import { CREDENTIAL_NAME, fillRefs, refUnavailable, wantRefs } from '../secrets/index.js';
import { seconds, type BreakerRegistry } from '../reliability/index.js';
import { ToolsStore, type StateManager, type ToolCallInput } from '../state/index.js';
import { ToolEntry } from './entry.js';
import { FaultBoard } from './faults.js';
import { fallbackEndEvent, fallbackStartEvent } from './messages.js';
import { serviceDetails } from './details.js';
import { readFacts, RecordedService } from './recorded.js';
import { guardUnreadable, modeUnreadable } from './unreadable.js';
import { guardHeaderRedactor, guardRedactor, redactHeaders, redactResponse, type HeaderRedactor, type ResponseRedactor, type ToolPiiGuard } from './redact.js';
import { recordedPath } from './path.js';
import type { RedactOptions } from '../domain/pii/index.js';
import type { InjectionGuard } from '../injection/index.js';

export type ToolsContext = {
  config: Config;
  state: StateManager;
  tokens: Pick<Authenticator, 'authenticate'>;
  logger: Logger;
  /** Every service's breaker comes from here, which saves, restores and shows it (its tier counters too). */
  breakers: Pick<BreakerRegistry, 'breaker' | 'describe' | 'recorded'>;
  /** The runtime's PII engine; without one, answers are redacted under `safety_mode` but not audited. */
  pii?: ToolPiiGuard;
  /** Secrets named in configured headers (`Bearer ${secret:NAME}`, `${panel:NAME}`); without it, no such header can be sent. */
  secrets?: Pick<SecretRefsLike, 'want' | 'get'>;
  /** Prompt injection in the services' answers (`safety.injection`, src/injection); without it, none is looked for. */
  injection?: Pick<InjectionGuard, 'answer'>;
};

export interface ToolsOptions {
  /** Replaces the PII step for live answers (see ResponseRedactor). */
  redactResponse?: ResponseRedactor;
  /** Replaces the PII step for their headers (see HeaderRedactor). */
  redactHeaders?: HeaderRedactor;
}

/**
 * The tool egress proxy's state: one ToolEntry per configured service, the fault plans, and
 * the bookkeeping that turns calls into rows and fallbacks into events. The services' breakers
 * are the registry's (ToolsContext.breakers): it saves them, with the tier counters, and times them.
 */
export class ToolProxy {
  readonly entries = new Map<string, ToolEntry>();
  /** Services the state file recorded that this config does not have: shown, never called. */
  readonly recorded = new Map<string, RecordedService>();
  readonly faults = new FaultBoard();
  readonly store: ToolsStore;
  readonly faultsAllowed: boolean;
  private readonly state: StateManager;
  private readonly logger: Logger;
  private closed = false;

  private readonly secrets: ToolsContext['secrets'];
  /** The PII engine's detector settings, for what the call rows keep. */
  private readonly piiOptions: RedactOptions | undefined;

  constructor(ctx: ToolsContext, opts: ToolsOptions = {}) {
    const { config } = ctx;
    this.secrets = ctx.secrets;
    this.piiOptions = ctx.pii?.options;
    for (const svc of Object.values(config.tools)) wantRefs(Object.values(svc.headers), ctx.secrets);
    this.state = ctx.state;
    this.logger = ctx.logger;
    this.store = ToolsStore.of(ctx.state);
    this.faultsAllowed = faultsPermitted(config);
    // loadConfig already refuses this; a Config built in code (tests, embedding) gets the same rule.
    if (config.faults.length > 0 && !this.faultsAllowed) {
      throw new ConfigError(`faults: fault injection is refused on the non-loopback bind ${config.host}; set allow_faults: true if you mean it`);
    }
    const now = Date.now();
    this.store.purgeExpired(now);
    for (const svc of Object.values(config.tools)) {
      const pii = ctx.pii;
      const redactor = opts.redactResponse ?? (pii ? guardRedactor(pii, svc.name) : redactResponse(config.safetyMode));
      const headerRedactor = opts.redactHeaders ?? (pii ? guardHeaderRedactor(pii, svc.name) : redactHeaders(config.safetyMode));
      const unreadable = pii ? guardUnreadable(pii, svc.name) : modeUnreadable(config.safetyMode);
      const entry = new ToolEntry({
        config: svc,
        store: this.store,
        redactor,
        headerRedactor,
        unreadable,
        ...(ctx.injection ? { injection: ctx.injection } : {}),
        breakers: ctx.breakers,
        onError: (err, what) => this.logger.error({ err }, `tool ${svc.name}: ${what} failed`),
      });
      this.entries.set(svc.name, entry);
    }
    for (const r of ctx.breakers.recorded('tool')) {
      const facts = readFacts(r.extra);
      if (facts) this.recorded.set(r.name, new RecordedService(r.name, facts, ctx.breakers));
    }
    ctx.breakers.describe('tool', serviceDetails(this.entries, this.recorded, this.store));
    for (const f of config.faults) {
      if (!this.entries.has(f.service)) throw new ConfigError(`faults: no tool service '${f.service}' is configured`);
      this.faults.add(f, 'config', now);
    }
  }

  // ── per call ──────────────────────────────────────────────────────────────────────────

  /** Count the tier that answered and announce when a service starts or stops needing fallbacks. */
  noteServed(entry: ToolEntry, tier: Tier, lookup: CacheLookup | null, reason: FallbackReason | 'ok', detail: string | null, agentId: string | null): void {
    // A call still finishing while iron-cage shuts down: the database may be gone.
    if (this.closed) return;
    entry.recordTier(tier, lookup);
    const fb = entry.fallback;
    if (tier === 'live') {
      if (!fb.active) return;
      fb.active = false;
      this.state.record(fallbackEndEvent(entry.name, fb.served, agentId));
      fb.served = { cache: 0, placeholder: 0, failed: 0 };
      return;
    }
    if (!fb.active) {
      fb.active = true;
      this.state.record(fallbackStartEvent(entry.name, tier, reason as FallbackReason, detail, agentId));
    }
    fb.served[tier]++;
  }

  /**
   * An agent asked for a service or a path it may not reach: on the record as an unauthorized
   * action. The path is left out: what the agent put in it is not for the event log.
   */
  noteRefused(agentId: string, service: string | null, reason: 'unknown_service' | 'invalid_path', status: number): void {
    if (this.closed) return;
    const what =
      reason === 'unknown_service'
        ? service === null
          ? 'no tool service named in the path'
          : `no tool service '${service}' is configured`
        : `a path outside ${service === null ? 'any service' : `${service}'s base URL`} or not a valid tool path`;
    this.state.record({ agentId, type: 'tool.refused', severity: 'warn', message: `Tool call refused (${status}): ${what}`, data: { service, reason, status } });
  }

  /** What a call's row keeps of its path: PII replaced (see recordedPath). */
  recordedPath(path: string): string {
    return recordedPath(path, this.piiOptions);
  }

  /** The call's row, group-committed: its id once it is on disk (the agent's answer waits for it), or null when it could not be written. */
  async recordCall(row: ToolCallInput): Promise<number | null> {
    // A call still finishing while iron-cage shuts down: the database may be gone.
    if (this.closed) return null;
    try {
      return await this.store.recordCall(row);
    } catch (err) {
      this.logger.error({ err }, `tool proxy: could not record a call to ${row.service}`);
      return null;
    }
  }

  /**
   * The service's configured headers with `${secret:NAME}` filled in from the vault, read per
   * call so a rotation applies to the next one, and the credentials among them (`injected`):
   * what iron-cage sends on the agent's behalf, to be scrubbed from the answer. A secret that is
   * not there refuses the call (503) rather than send the placeholder upstream.
   */
  headersOf(entry: ToolEntry): { headers: Record<string, string>; injected: string[] } {
    const h = entry.config.headers;
    let out: Record<string, string> | null = null;
    const injected: string[] = [];
    for (const [name, value] of Object.entries(h)) {
      if (!value.includes('${secret:') && !value.includes('${panel:')) {
        // A credential written in the config is one iron-cage sends too.
        if (CREDENTIAL_NAME.test(name)) injected.push(value);
        continue;
      }
      out ??= { ...h };
      const f = fillRefs(value, this.secrets, (ref) => refUnavailable(`tools.${entry.name}.headers.${name}`, ref));
      out[name] = f.value;
      injected.push(...f.filled, f.value);
    }
    return { headers: out ?? h, injected };
  }

  recordEvent(e: NewEvent): void {
    this.state.record(e);
  }

  announce(): void {
    for (const e of this.entries.values()) {
      const b = e.config.breaker;
      const extras = [e.config.cacheTtlMs > 0 ? `cache ${seconds(e.config.cacheTtlMs)}` : 'no cache', e.config.placeholder ? 'placeholder' : ''].filter(Boolean);
      this.logger.info(`Tool ${e.name}: /tools/${e.name}/… → ${e.config.url} (breaker ${b.failureThreshold} failures / ${seconds(b.cooldownMs)} cooldown, ${extras.join(', ')})`);
    }
    for (const f of this.faults.list(Date.now())) {
      this.logger.warn(
        `Fault plan ${f.id}: ${f.service} fails with ${f.status} from call ${f.fromCall}${f.count ? ` for ${f.count} calls` : ''}${f.durationMs ? ` for ${seconds(f.durationMs)}` : ''}`,
      );
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.entries.values()].map((e) => e.close()));
  }
}
