import { hkdfSync } from 'node:crypto';
import { loadOrCreateKey, stateFilesFor } from '../auth/index.js';
import type { EmailMessage, SlackMessage } from '../budget/index.js';
import type { GuardResult, OutputGuard, StreamGuard } from '../gateway/index.js';
import {
  addDetections,
  applyRedactions,
  auditFields,
  createStreamRedactor,
  emptyProtectionCounters,
  modeFor,
  redact,
  type AuditKeys,
  type Detection,
  type ProtectionCounters,
  type RedactOptions,
  type SafetyPolicy,
} from '../safety/index.js';
import { PiiStore, type PiiAuditRow, type StateManager } from '../state/index.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../core/logger.js';

export type PiiLocation = 'llm.output' | 'llm.prompt' | 'agent.output' | 'tool.response';

/** Where findings are announced (`safety.webhook_url`): the runtime passes its alert dispatcher. */
export interface PiiNotifier {
  send(message: { id: string; slack: SlackMessage; email: EmailMessage }): void;
  close(): Promise<void>;
}

export interface PiiProtectionDeps {
  state: StateManager;
  config: Pick<Config, 'safety' | 'safetyMode' | 'db'>;
  logger: Logger;
  /** Null: findings are audited and broadcast, not sent anywhere else. */
  notify: PiiNotifier | null;
  /** Graceful stop of a supervised agent, for the block policy's `on_block: stop`. */
  stopAgent(agentId: string, requestedBy: string): boolean;
}

const PREVIEW_CHARS = 240;
const BLOCK_GRACE_MS = 200;
const SEVERITY_RANK = { INFO: 0, WARN: 1, CRITICAL: 2 } as const;

/** Audit keys derived from one secret kept beside the database (0600), one per purpose. */
function auditKeys(dbPath: string): AuditKeys {
  const { key } = loadOrCreateKey(stateFilesFor(dbPath).auditKey);
  const derive = (info: string) => new Uint8Array(hkdfSync('sha256', key, new Uint8Array(0), info, 32));
  return { hmacKey: derive('iron-cage pii hmac v1'), encryptionKey: derive('iron-cage pii seal v1') };
}

/**
 * PII protection at every door: LLM output (whole and streamed), prompts if asked, the agent's
 * own stdout/stderr and tool responses. Detection and redaction are the safety domain's; this
 * class applies the policy, writes the audit trail and keeps the protection counters.
 */
export class PiiProtection {
  readonly policy: SafetyPolicy;
  readonly options: RedactOptions;
  private readonly keys: AuditKeys;
  private readonly store: PiiStore;
  private readonly counters = new Map<string, ProtectionCounters>();
  private readonly logger: Logger;
  private readonly notify: PiiNotifier | null;
  private readonly onBlock: (agentId: string, why: string) => void;

  constructor(d: PiiProtectionDeps) {
    const { config } = d;
    const s = config.safety;
    this.logger = d.logger;
    this.notify = d.notify;
    this.onBlock = (agentId, why) => {
      if (s.onBlock === 'stop') d.stopAgent(agentId, why);
    };
    this.policy = { mode: config.safetyMode, perType: s.perType, severity: s.severity };
    this.options = {
      policy: this.policy,
      risk: s.risk,
      allowDomains: s.allowDomains,
      allowValues: s.allowValues,
      ...(s.phoneRegions ? { phoneRegions: s.phoneRegions } : {}),
    };
    redact('', this.options); // validate the policy now, not on the first call
    this.keys = auditKeys(config.db);
    this.store = new PiiStore(d.state);
    for (const t of this.store.totals()) {
      const id = t.agentId ?? '';
      const c = this.countersFor(id);
      if (t.action === 'warned') c.piiWarned += t.n;
      else {
        c.piiLeaksBlocked += t.n;
        c.piiLeaksBlockedByType[t.type as keyof ProtectionCounters['piiLeaksBlockedByType']] += t.n;
      }
    }
  }

  countersFor(agentId: string): ProtectionCounters {
    let c = this.counters.get(agentId);
    if (!c) this.counters.set(agentId, (c = emptyProtectionCounters()));
    return c;
  }

  /** Scan and apply the policy to one whole text; audits and announces what it found. */
  inspect(agentId: string | null, location: PiiLocation, text: string, requestRef: string | null = null): GuardResult {
    const r = redact(text, this.options);
    if (r.detections.length === 0) return { text, redactions: 0, block: null };
    this.found(agentId, location, r.detections, text, requestRef);
    return { text: r.text, redactions: r.detections.length, block: r.blocked ? this.blockMessage(r.detections) : null };
  }

  /** A streamed text: findings are audited as the stream redactor makes them final. */
  stream(agentId: string | null, location: PiiLocation, requestRef: string | null): StreamGuard {
    const pending: Detection[] = [];
    const redactor = createStreamRedactor({ ...this.options, retainDetections: false, onDetection: (d) => pending.push(d) });
    const step = (out: string): GuardResult => {
      if (pending.length === 0) return { text: out, redactions: 0, block: null };
      const found = pending.splice(0);
      this.found(agentId, location, found, null, requestRef);
      return { text: out, redactions: found.length, block: redactor.blocked ? this.blockMessage(found) : null };
    };
    return {
      push: (chunk) => step(redactor.push(chunk)),
      end: () => step(redactor.end()),
    };
  }

  /** The gateway's view of this engine. */
  outputGuard(redactPrompts: boolean): OutputGuard {
    return {
      active: true,
      text: (agentId, ref, text) => this.inspect(agentId, 'llm.output', text, ref),
      stream: (agentId, ref) => this.stream(agentId, 'llm.output', ref),
      ...(redactPrompts ? { prompt: (agentId: string, ref: string, text: string) => this.inspect(agentId, 'llm.prompt', text, ref) } : {}),
    };
  }

  /** Agent stdout/stderr, before it reaches the terminal, the event log and the database. */
  filterLine(agentId: string, line: string): string {
    return this.inspect(agentId, 'agent.output', line).text;
  }

  private blockMessage(ds: readonly Detection[]): string {
    const types = [...new Set(ds.filter((d) => modeFor(d.type, this.policy) === 'block').map((d) => d.type))];
    return `Iron Cage blocked this response: it contained PII (${types.join(', ')}) and the safety policy for ${types.length > 1 ? 'these types' : 'this type'} is block.`;
  }

  private found(agentId: string | null, location: PiiLocation, ds: Detection[], text: string | null, requestRef: string | null): void {
    const actionOf = (d: Detection) => {
      const m = modeFor(d.type, this.policy);
      return m === 'block' ? 'blocked' : m === 'warn' ? 'warned' : 'redacted';
    };
    const rows = ds.map((d) => {
      const a = auditFields(d, this.keys, this.policy);
      return {
        agentId,
        location,
        requestRef,
        type: a.type,
        risk: a.risk,
        severity: a.severity,
        action: actionOf(d),
        confidence: a.confidence,
        start: a.start,
        end: a.end,
        valueHmac: a.valueHash,
        valueSealed: a.sealedValue,
      };
    });
    const key = agentId ?? '';
    const counters = addDetections(this.countersFor(key), ds, this.policy);
    this.counters.set(key, counters);
    const types: Record<string, number> = {};
    for (const d of ds) types[d.type] = (types[d.type] ?? 0) + 1;
    const action = rows.some((r) => r.action === 'blocked') ? 'blocked' : rows.some((r) => r.action === 'redacted') ? 'redacted' : 'warned';
    const severity = rows.reduce<'CRITICAL' | 'WARN' | 'INFO'>((m, r) => (SEVERITY_RANK[r.severity] > SEVERITY_RANK[m] ? r.severity : m), 'INFO');
    // The preview is always fully redacted, whatever the mode: a value never reaches an event.
    const preview = text === null ? '' : applyRedactions(text, ds, { mode: 'redact' }).slice(0, PREVIEW_CHARS);
    const where = { 'llm.output': 'LLM output', 'llm.prompt': 'a prompt', 'agent.output': 'agent output', 'tool.response': 'a tool response' }[location];
    const list = Object.entries(types).map(([t, n]) => `${n} ${t}`).join(', ');
    const event = {
      agentId,
      type: 'pii.detected' as const,
      // A redaction is protection working (warn); a block halts the agent (error). The audit
      // severity (CRITICAL for e-mail, WARN for phone) is in data.severity.
      severity: action === 'blocked' ? ('error' as const) : ('warn' as const),
      message: `PII ${action} in ${where}: ${list}${preview ? ` — "${preview.length > 80 ? `${preview.slice(0, 80)}…` : preview}"` : ''}`,
      data: {
        location,
        action: action as 'redacted' | 'blocked' | 'warned',
        types,
        severity,
        preview,
        requestRef,
        counters: { piiLeaksBlocked: counters.piiLeaksBlocked, piiWarned: counters.piiWarned, byType: counters.piiLeaksBlockedByType },
      },
    };
    this.store.record(rows, event).catch((err) => this.logger.error({ err }, 'could not write the PII audit trail'));
    this.notify?.send({
      id: `pii:${agentId ?? '-'}:${Date.now()}`,
      slack: { text: `:shield: Iron Cage: ${event.message}`, blocks: [] },
      email: { subject: `Iron Cage: PII ${action}`, text: event.message },
    });
    // The agent is halted once its refusal has been delivered, so it can see why.
    // Only what the agent receives can be refused; its own output is redacted, not a reason to halt it.
    if (action === 'blocked' && agentId && location !== 'agent.output') setTimeout(() => this.onBlock(agentId, `PII (${Object.keys(types).join(', ')}) in ${where} under the block policy`), BLOCK_GRACE_MS);
  }

  /** The audit trail, oldest first after `after`; sealed values included (the routes drop them). */
  records(q: { agentId?: string; type?: string; after?: number; limit: number }): PiiAuditRow[] {
    return this.store.list(q);
  }

  close(): Promise<void> {
    return this.notify?.close() ?? Promise.resolve();
  }
}
