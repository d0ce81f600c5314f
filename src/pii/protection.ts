import { loadOrCreateKey, stateFilesFor } from '../auth/index.js';
import { excerpt } from '../core/excerpt.js';
import type { SlackMessage } from '../domain/budget/index.js';
import type { GuardResult, OutputGuard, SlotKind, StreamGuard } from './guard.js';
import {
  addDetections,
  auditFields,
  createJsonStreamRedactor,
  createStreamRedactor,
  deriveAuditKeys,
  emptyProtectionCounters,
  modeFor,
  redact,
  redactJsonText,
  type AuditKeys,
  type Detection,
  type ProtectionCounters,
  type RedactOptions,
  type SafetyMode,
  type SafetyPolicy,
  type StreamRedactorOptions,
  type TextRedactor,
  typesInShortText,
} from '../domain/pii/index.js';
import { isJson, strictest, withModes } from './policy.js';
import { previewOf } from './preview.js';
import { PiiStore, type PiiAuditRow, type StateManager } from '../state/index.js';
import { locationModes, type Config, type SafetyLocation } from '../config/index.js';
import type { Logger } from '../core/logger.js';

export type PiiLocation = 'llm.output' | 'llm.tool_arguments' | 'llm.prompt' | 'agent.output' | 'tool.response';

/** Which `safety.locations` entry rules each place findings are made. */
const SETTING: Record<PiiLocation, SafetyLocation> = {
  'llm.output': 'output',
  'llm.tool_arguments': 'tool_arguments',
  'llm.prompt': 'prompt',
  'agent.output': 'agent_stdout',
  'tool.response': 'tool_response',
};
const WHERE: Record<PiiLocation, string> = {
  'llm.output': 'LLM output',
  'llm.tool_arguments': 'tool-call arguments',
  'llm.prompt': 'a prompt',
  'agent.output': 'agent output',
  'tool.response': 'a tool response',
};

/** Where findings are announced: the runtime's one alert dispatcher (`alerts:`), which it also closes. */
export interface PiiNotifier {
  send(message: { id: string; kind: 'pii'; agentId: string | null; slack: SlackMessage }): void;
}

export interface PiiProtectionDeps {
  state: StateManager;
  config: Pick<Config, 'safety' | 'safetyMode' | 'db'>;
  logger: Logger;
  notify: PiiNotifier;
  /** Graceful stop of a supervised agent, for the block policy's `on_block: stop`. */
  stopAgent(agentId: string, requestedBy: string): boolean;
}

const BLOCK_GRACE_MS = 200;
const SEVERITY_RANK = { INFO: 0, WARN: 1, CRITICAL: 2 } as const;
/** Audit keys derived from one secret kept beside the database (0600), one per purpose. */
const auditKeys = (dbPath: string): AuditKeys => deriveAuditKeys(loadOrCreateKey(stateFilesFor(dbPath).auditKey).key);

/**
 * PII protection at every door: LLM output (whole and streamed), prompts if asked, the agent's
 * own stdout/stderr and tool responses. Detection and redaction are the safety domain's; this
 * class applies the policy, writes the audit trail and keeps the protection counters.
 */
export class PiiProtection {
  /** The policy of `safety_mode` and `safety.per_type`, as the LLM's output gets it by default. */
  readonly policy: SafetyPolicy;
  readonly options: RedactOptions;
  /** Each location's options (its mode, the per-type overrides), or null where it is `off`. */
  private readonly at: Record<PiiLocation, RedactOptions | null>;
  /**
   * Each location's stream-redactor options, built once with the policy (one object, so the
   * scanner compiled for it is found by identity, not rebuilt or looked up by its settings per
   * stream). A stream's findings reach it through `sink`, set while its redactor runs.
   */
  private readonly streamAt: Record<PiiLocation, StreamRedactorOptions | null>;
  /** Where the running stream redactor's findings go (push and end are synchronous: one at a time). */
  private sink: Detection[] | null = null;
  private readonly keys: AuditKeys;
  private readonly store: PiiStore;
  private readonly counters = new Map<string, ProtectionCounters>();
  private readonly logger: Logger;
  private readonly notify: PiiNotifier;
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
    const modes = locationModes(config);
    const optionsFor = (l: PiiLocation): RedactOptions | null => {
      const m = modes[SETTING[l]];
      if (m === 'off') return null;
      // An agent's own output is redacted, never a reason to halt it: block acts as redact.
      const tame = (x: SafetyMode): SafetyMode => (l === 'agent.output' && x === 'block' ? 'redact' : x);
      const perType = Object.fromEntries(Object.entries(s.perType).map(([t, x]) => [t, tame(x)]));
      return { ...this.options, policy: { ...this.policy, mode: tame(m), perType } };
    };
    this.at = {
      'llm.output': optionsFor('llm.output'),
      'llm.tool_arguments': optionsFor('llm.tool_arguments'),
      'llm.prompt': optionsFor('llm.prompt'),
      'agent.output': optionsFor('agent.output'),
      'tool.response': optionsFor('tool.response'),
    };
    const streamOptions = (o: RedactOptions | null): StreamRedactorOptions | null => o && { ...o, retainDetections: false, onDetection: (d: Detection) => void this.sink?.push(d) };
    this.streamAt = {
      'llm.output': streamOptions(this.at['llm.output']),
      'llm.tool_arguments': streamOptions(this.at['llm.tool_arguments']),
      'llm.prompt': streamOptions(this.at['llm.prompt']),
      'agent.output': streamOptions(this.at['agent.output']),
      'tool.response': streamOptions(this.at['tool.response']),
    };
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

  /**
   * The text with every finding replaced, whatever the policy says of its type (warn included):
   * what leaves iron-cage as an export of content (traces' opt-in message capture). Nothing is
   * recorded or alerted: the text was already judged where it passed. `allowDomains`: e-mail
   * domains kept readable besides `safety.allow_domains` (those the tool policies' rules name).
   */
  scrubbed(text: string, allowDomains: readonly string[] = []): string {
    const options = allowDomains.length === 0 ? this.options : { ...this.options, allowDomains: [...(this.options.allowDomains ?? []), ...allowDomains] };
    return redact(text, { ...options, policy: { ...this.policy, mode: 'redact', perType: {} } }).text;
  }

  /**
   * The PII types a short text the agent chose holds (a model name, an id, a header's value), by
   * the detectors and the allow-lists alone, whatever the policy: such a text is refused where it
   * would be sent, and never shown where it would be exported (metrics, traces).
   */
  typesIn(text: string): string[] {
    return typesInShortText(text, this.options);
  }

  countersFor(agentId: string): ProtectionCounters {
    let c = this.counters.get(agentId);
    if (!c) this.counters.set(agentId, (c = emptyProtectionCounters()));
    return c;
  }

  /** Whether a location is scanned at all (its `safety.locations` mode is not `off`). */
  scans(location: PiiLocation): boolean {
    return this.at[location] !== null;
  }

  /** Scan and apply the location's policy to one whole text; audits and announces what it found. */
  inspect(agentId: string | null, location: PiiLocation, text: string, requestRef: string | null = null, context = 0): GuardResult {
    const o = this.at[location];
    if (!o) return { text, redactions: 0, block: null };
    const r = redact(text, o);
    if (r.detections.length === 0) return { text, redactions: 0, block: null };
    this.found(agentId, location, o.policy!, r.detections, text, requestRef, context);
    return { text: r.text, redactions: r.detections.length, block: r.blocked ? this.blockMessage(r.detections, o.policy!) : null };
  }

  /**
   * A text whose copies are kept (the events table, the terminal, `llm_requests.error`): `text`
   * is what the location's mode gives its reader (warn: unchanged), `stored` is always redacted,
   * whatever the mode. Block acts as redact here: nothing is refused, so nothing is halted.
   */
  copy(agentId: string | null, location: PiiLocation, text: string, requestRef: string | null = null, context = 0): GuardResult & { stored: string } {
    const o = this.at[location];
    if (!o) return { text, stored: text, redactions: 0, block: null };
    const policy = withModes(o.policy!, (m) => (m === 'block' ? 'redact' : m));
    const r = redact(text, { ...o, policy });
    if (r.detections.length === 0) return { text, stored: text, redactions: 0, block: null };
    this.found(agentId, location, policy, r.detections, text, requestRef, context);
    const stored = r.text !== text ? r.text : redact(text, { ...o, policy: withModes(policy, () => 'redact') }).text;
    return { text: r.text, stored, redactions: r.detections.length, block: null };
  }

  /** A JSON document whose copies are kept (an SDK event's data): `copy` string by string, valid JSON out. */
  copyJson(agentId: string | null, location: PiiLocation, json: string, requestRef: string | null = null): string {
    return redactJsonText(json, (context) => {
      let text = '';
      return { push: (t) => ((text += t), ''), end: () => this.copy(agentId, location, text, requestRef, context).stored };
    });
  }

  /** A streamed text: findings are audited as the stream redactor makes them final. */
  stream(agentId: string | null, location: PiiLocation, requestRef: string | null, context = 0): StreamGuard {
    const o = this.streamAt[location];
    if (!o) return PASS;
    const pending: Detection[] = [];
    const redactor = createStreamRedactor(o);
    const step = (chunk: string | null): GuardResult => {
      const outer = this.sink;
      this.sink = pending;
      let out: string;
      try {
        out = chunk === null ? redactor.end() : redactor.push(chunk);
      } finally {
        this.sink = outer;
      }
      if (pending.length === 0) return { text: out, redactions: 0, block: null };
      const found = pending.splice(0);
      this.found(agentId, location, o.policy!, found, null, requestRef, context);
      return { text: out, redactions: found.length, block: redactor.blocked ? this.blockMessage(found, o.policy!) : null };
    };
    return { push: (chunk) => step(chunk), end: () => step(null) };
  }

  /**
   * A JSON document (tool-call arguments), streamed: each string in it is scanned as a text of
   * its own, and the output stays valid JSON for every split. `whole`: each string is scanned
   * in one piece, so its finding gets a preview (the result is the same).
   */
  json(agentId: string | null, location: PiiLocation, requestRef: string | null, whole = false): StreamGuard {
    if (!this.at[location]) return PASS;
    let redactions = 0;
    let block: string | null = null;
    const take = (r: GuardResult) => {
      redactions += r.redactions;
      block ??= r.block;
      return r.text;
    };
    const open = (context: number): TextRedactor => {
      if (!whole) {
        const g = this.stream(agentId, location, requestRef, context);
        return { push: (t) => take(g.push(t)), end: () => take(g.end()) };
      }
      let text = '';
      return { push: (t) => ((text += t), ''), end: () => take(this.inspect(agentId, location, text, requestRef, context)) };
    };
    const redactor = createJsonStreamRedactor(open);
    const step = (text: string): GuardResult => {
      const r = { text, redactions, block };
      redactions = 0;
      block = null;
      return r;
    };
    return { push: (chunk) => step(redactor.push(chunk)), end: () => step(redactor.end()) };
  }

  /**
   * A text the scan cannot read (`what`: a tool answer compressed in a coding we cannot undo):
   * the reason it is refused, or null where it may pass (the location off, or only warning).
   * Announced as `pii.unscanned` unless the location is off; nothing is audited (nothing was found).
   */
  unreadable(agentId: string | null, location: 'tool.response', what: string, requestRef: string | null = null): string | null {
    const o = this.at[location];
    if (!o) return null;
    const { enforced: refused, mode } = strictest(o.policy!);
    const message = refused
      ? `Iron Cage refused ${WHERE[location]}: it came ${what}, and the safety policy there is ${mode}.`
      : `Iron Cage passed ${WHERE[location]} unscanned: it came ${what} (the safety policy there is ${mode}).`;
    const event = {
      agentId,
      type: 'pii.unscanned' as const,
      severity: 'warn' as const,
      message,
      data: { location, reason: what, action: refused ? ('refused' as const) : ('passed' as const), requestRef },
    };
    this.store.record([], event).catch((err) => this.logger.error({ err }, 'could not record an unscanned answer'));
    return refused ? message : null;
  }

  /** The gateway's view of this engine: answers and tool-call arguments, prompts if asked. */
  outputGuard(): OutputGuard {
    const whole = (agentId: string, location: PiiLocation, ref: string, text: string, kind?: SlotKind): GuardResult => {
      // Arguments that are not JSON at all (`{'to': …}`, a bare address) are a text like any other.
      if (kind !== 'json' || !isJson(text)) return this.inspect(agentId, location, text, ref);
      const g = this.json(agentId, location, ref, true);
      const a = g.push(text);
      const b = g.end();
      return { text: a.text + b.text, redactions: a.redactions + b.redactions, block: a.block ?? b.block };
    };
    const args = (kind?: SlotKind): PiiLocation => (kind === 'json' ? 'llm.tool_arguments' : 'llm.output');
    return {
      active: this.scans('llm.output') || this.scans('llm.tool_arguments'),
      withholdsLogprobs: this.at['llm.output'] !== null && strictest(this.at['llm.output'].policy!).enforced,
      text: (agentId, ref, text, kind) => whole(agentId, args(kind), ref, text, kind),
      stream: (agentId, ref, kind) => (kind === 'json' ? this.json(agentId, 'llm.tool_arguments', ref) : this.stream(agentId, 'llm.output', ref)),
      error: (agentId, ref, text) => this.copy(agentId, 'llm.output', text, ref),
      typesIn: (text) => this.typesIn(text),
      ...(this.scans('llm.prompt') ? { prompt: (agentId: string, ref: string, text: string, kind?: SlotKind) => whole(agentId, 'llm.prompt', ref, text, kind) } : {}),
    };
  }

  /** Agent stdout/stderr, before it reaches the terminal, the event log and the database. */
  filterLine(agentId: string, line: string): string {
    return this.copy(agentId, 'agent.output', line).stored;
  }

  private blockMessage(ds: readonly Detection[], policy: SafetyPolicy): string {
    const types = [...new Set(ds.filter((d) => modeFor(d.type, policy) === 'block').map((d) => d.type))];
    return `Iron Cage blocked this response: it contained PII (${types.join(', ')}) and the safety policy for ${types.length > 1 ? 'these types' : 'this type'} is block.`;
  }

  /** `context`: how many characters of key context preceded the value (json.ts): offsets point into the value. */
  private found(agentId: string | null, location: PiiLocation, policy: SafetyPolicy, ds: Detection[], text: string | null, requestRef: string | null, context = 0): void {
    const actionOf = (d: Detection) => {
      const m = modeFor(d.type, policy);
      return m === 'block' ? 'blocked' : m === 'warn' ? 'warned' : 'redacted';
    };
    const rows = ds.map((d) => {
      const a = auditFields(d, this.keys, policy);
      return {
        agentId,
        location,
        requestRef,
        type: a.type,
        risk: a.risk,
        severity: a.severity,
        action: actionOf(d),
        confidence: a.confidence,
        start: Math.max(0, a.start - context),
        end: Math.max(0, a.end - context),
        valueHmac: a.valueHash,
        valueSealed: a.sealedValue,
      };
    });
    const key = agentId ?? '';
    const counters = addDetections(this.countersFor(key), ds, policy);
    this.counters.set(key, counters);
    const types: Record<string, number> = {};
    for (const d of ds) types[d.type] = (types[d.type] ?? 0) + 1;
    const action = rows.some((r) => r.action === 'blocked') ? 'blocked' : rows.some((r) => r.action === 'redacted') ? 'redacted' : 'warned';
    const severity = rows.reduce<'CRITICAL' | 'WARN' | 'INFO'>((m, r) => (SEVERITY_RANK[r.severity] > SEVERITY_RANK[m] ? r.severity : m), 'INFO');
    // The preview is always fully redacted, whatever the mode: a value never reaches an event.
    const preview = text === null ? '' : previewOf(text, ds);
    const where = WHERE[location];
    const list = Object.entries(types)
      .map(([t, n]) => `${n} ${t}`)
      .join(', ');
    const event = {
      agentId,
      type: 'pii.detected' as const,
      // A redaction is protection working (warn); a block halts the agent (error). The audit
      // severity (CRITICAL for e-mail, WARN for phone) is in data.severity.
      severity: action === 'blocked' ? ('error' as const) : ('warn' as const),
      message: `PII ${action} in ${where}: ${list}${preview ? ` — "${excerpt(preview, 100)}"` : ''}`,
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
    // No e-mail form: findings come one per scan, and would bury the budget alerts in the inbox.
    this.notify.send({ id: `pii:${agentId ?? '-'}:${Date.now()}`, kind: 'pii', agentId, slack: { text: `:shield: Iron Cage: ${event.message}`, blocks: [] } });
    // The agent is halted once its refusal has been delivered, so it can see why.
    // Only what the agent receives can be refused; its own output is redacted, not a reason to halt it.
    if (action === 'blocked' && agentId && location !== 'agent.output')
      setTimeout(() => this.onBlock(agentId, `PII (${Object.keys(types).join(', ')}) in ${where} under the block policy`), BLOCK_GRACE_MS);
  }

  /** The audit trail, oldest first after `after`; sealed values included (the routes drop them). */
  records(q: { agentId?: string; type?: string; after?: number; limit: number }): PiiAuditRow[] {
    return this.store.list(q);
  }
}

/** A location that is `off`: nothing scanned, nothing held back. */
const PASS: StreamGuard = { push: (text) => ({ text, redactions: 0, block: null }), end: () => ({ text: '', redactions: 0, block: null }) };
