import { ConflictError, NotFoundError } from '../core/errors.js';
import { TERMINAL_STATUSES, type EventData, type IronEvent, type WatchPolicy } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { microsToUsd, usdToMicros } from '../core/money.js';
import type { WatchConfig } from '../config/index.js';
import { clip, emptyArgs, functionCalls, functionKey, lastText, LoopTracker, loopMoney, promptKey, SpendLog, spikeOf, stalled, toolKey, type Loop, type LoopKind } from '../domain/watch/index.js';
import type { ObservedCall, ObservedToolCall, Observer } from '../observability/index.js';
import type { AgentControl } from '../server/index.js';
import type { AgentView, LlmRequestInput, PauseCause, StateManager } from '../state/index.js';
import type { PauseGate } from './gate.js';
import { loopAlert, loopMessage, spikeAlert, spikeMessage, stallAlert, stallMessage, type WatchAlert } from './messages.js';

/** At most this many call ids per detection (the newest). */
const MAX_IDS = 50;
/** Function call ids remembered per agent (each is counted once, however many later requests carry it). */
const MAX_SEEN_CALLS = 10_000;

export interface WatchDeps {
  config: WatchConfig;
  state: StateManager;
  logger: Logger;
  agents: Pick<AgentControl, 'stop'>;
  gate: PauseGate;
  /** Alerts by webhook and e-mail (the runtime's one dispatcher). */
  alerts: { send(message: WatchAlert): void };
  /** PII out of a label before it is shown, stored or sent. */
  redact: (agentId: string, text: string) => string;
  now?: () => number;
}

/** One loop as GET /api/agents/:id/watch shows it. */
export interface LoopView {
  kind: LoopKind;
  key: string;
  label: string;
  count: number;
  firstTs: string;
  lastTs: string;
  spentUsd: number;
  wastedUsd: number;
  requestIds: number[];
  toolCallIds: number[];
  /** The event that last reported it. */
  seq: number | null;
}

/** GET /api/agents/:id/watch. */
export interface WatchView {
  paused: AgentView['paused'];
  loops: LoopView[];
  stall: { idleMs: number; stalled: boolean; lastActivity: string | null };
  spike: (EventData['watch.spike'] & { seq: number; ts: string }) | null;
  config: Pick<WatchConfig, 'loops' | 'stalls' | 'spikes'>;
}

/** What is known of an agent's liveness. */
interface Activity {
  lastMs: number;
  lastProgressMs: number | null;
  /** Said for this idle stretch already (re-armed by the next sign of life). */
  stalled: boolean;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const newest = (ids: Iterable<number>): number[] => [...new Set(ids)].sort((a, b) => a - b).slice(-MAX_IDS);

/**
 * The watch: sees every LLM and tool call (as an Observer) and the agents' events, notices
 * loops, stalls and spend spikes, says so (an event, an alert) and applies each kind's policy;
 * pauses and resumes agents (the gate). Everything it keeps is in memory, bounded by the
 * longest window.
 */
export class Watch implements Observer {
  private readonly loops: LoopTracker;
  private readonly spend = new Map<string, SpendLog>();
  private readonly activity = new Map<string, Activity>();
  private readonly spikes = new Map<string, { armed: boolean; checkedMs: number; last: WatchView['spike'] }>();
  private readonly seenCalls = new Map<string, Set<string>>();
  private readonly ids = new WeakMap<ObservedCall, number>();
  private readonly retainMs: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private sweeps = 0;

  constructor(private readonly d: WatchDeps) {
    const c = d.config;
    this.now = d.now ?? Date.now;
    this.loops = new LoopTracker({ windowMs: c.loops.windowMs, count: { tool: c.loops.count, function: c.loops.count, prompt: c.loops.promptCount } });
    this.retainMs = Math.max(c.loops.windowMs, c.spikes.windowMs + c.spikes.baselineMs);
  }

  private get on(): boolean {
    return this.d.config.enabled;
  }

  /** Paused agents stay paused across a restart of iron-cage; stalls are checked from now on. */
  start(): void {
    for (const a of this.d.state.listAgents()) if (a.paused) this.d.gate.pause(a.id);
    const s = this.d.config.stalls;
    if (this.on && s.enabled) {
      this.timer = setInterval(() => this.checkStalls(), Math.min(5_000, Math.max(25, s.afterMs / 4)));
      this.timer.unref();
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  // ── what the agents do ─────────────────────────────────────────────────────────────────

  /** The event bus: signs of life, and runs that start or end. */
  readonly onEvent = (e: IronEvent): void => {
    if (e.agentId === null) return;
    switch (e.type) {
      case 'agent.started':
      case 'agent.progress':
      case 'agent.event':
        this.touch(e.agentId, e.type === 'agent.progress');
        break;
      case 'agent.exited':
        this.activity.delete(e.agentId);
        break;
    }
  };

  private touch(agentId: string, progress = false): void {
    const now = this.now();
    const a = this.activity.get(agentId);
    if (a) {
      a.lastMs = now;
      a.stalled = false;
      if (progress) a.lastProgressMs = now;
    } else this.activity.set(agentId, { lastMs: now, lastProgressMs: progress ? now : null, stalled: false });
  }

  settled(call: ObservedCall | undefined, row: LlmRequestInput, id?: number): void {
    const agentId = row.agentId;
    if (!this.on || agentId === null) return;
    const now = this.now();
    if (call && id !== undefined) this.ids.set(call, id);
    let log = this.spend.get(agentId);
    if (!log) this.spend.set(agentId, (log = new SpendLog(this.retainMs)));
    log.add({ id: id ?? null, startMs: call?.startMs ?? now, settledMs: now, micros: row.costMicros ?? 0 });
    if (this.d.config.spikes.enabled) this.checkSpike(agentId, log, now);
  }

  llmCall(call: ObservedCall, _error: unknown): void {
    this.touch(call.agentId);
    if (!this.on || !this.d.config.loops.enabled || call.read === null || call.requestModel === null) return;
    const { agentId, startMs } = call;
    const prompt = call.read.prompt();
    const requestId = this.ids.get(call) ?? null;
    const sighting = { ms: startMs, requestId, toolCallId: null };
    const model = call.requestModel;
    const key = promptKey(model, prompt);
    if (key !== null) {
      const hit = this.loops.see(agentId, 'prompt', key, () => `${model}: "${clip(this.d.redact(agentId, lastText(prompt)), 100)}"`, sighting);
      if (hit) this.loopFound(agentId, hit);
    }
    // The model's function calls, as this request's history carries them: each call once.
    let seen = this.seenCalls.get(agentId);
    for (const fc of functionCalls(prompt, (id) => seen?.has(id) === true)) {
      if (!seen) this.seenCalls.set(agentId, (seen = new Set()));
      seen.add(fc.id);
      if (seen.size > MAX_SEEN_CALLS) seen.delete(seen.values().next().value!);
      if (emptyArgs(fc.args)) continue;
      const hit = this.loops.see(agentId, 'function', functionKey(fc), () => clip(`${fc.name}(${this.d.redact(agentId, fc.args)})`), sighting);
      if (hit) this.loopFound(agentId, hit);
    }
    this.sweep();
  }

  toolCall(c: ObservedToolCall): void {
    const { agentId, service, method, path } = c.row;
    if (agentId === null) return;
    this.touch(agentId);
    if (!this.on || !this.d.config.loops.enabled) return;
    const key = toolKey({ service, method, path, query: c.sent?.query ?? '', body: c.sent?.body ?? null });
    // The path as its row keeps it (PII replaced); never the query or body.
    const hit = this.loops.see(agentId, 'tool', key, () => clip(`${service} ${method} ${path}`), { ms: c.startMs, requestId: null, toolCallId: c.id ?? null });
    if (hit) this.loopFound(agentId, hit);
    this.sweep();
  }

  /** Now and then, what aged out of every window goes. */
  private sweep(): void {
    if (++this.sweeps % 1000 !== 0) return;
    this.loops.sweep(this.now());
  }

  // ── detections ─────────────────────────────────────────────────────────────────────────

  private loopView(agentId: string, loop: Loop): LoopView {
    const log = this.spend.get(agentId);
    const money = loopMoney(loop, log);
    const first = loop.sightings[0]!;
    const requestIds = loop.sightings.flatMap((s) => (s.requestId === null ? [] : [s.requestId]));
    // A tool or function loop's LLM calls are the turns it took: every call since its first sighting.
    if (loop.kind !== 'prompt' && log) for (const c of log.all()) if (c.startMs > first.ms && c.id !== null) requestIds.push(c.id);
    return {
      kind: loop.kind,
      key: loop.key,
      label: loop.label,
      count: loop.sightings.length,
      firstTs: iso(first.ms),
      lastTs: iso(loop.sightings.at(-1)!.ms),
      spentUsd: microsToUsd(money.spent),
      wastedUsd: microsToUsd(money.wasted),
      requestIds: newest(requestIds),
      toolCallIds: newest(loop.sightings.flatMap((s) => (s.toolCallId === null ? [] : [s.toolCallId]))),
      seq: loop.seq,
    };
  }

  private loopFound(agentId: string, loop: Loop): void {
    const policy = this.d.config.loops.policy;
    const v = this.loopView(agentId, loop);
    const data: EventData['watch.loop'] = {
      kind: v.kind,
      key: v.key,
      label: v.label,
      count: v.count,
      windowMs: this.d.config.loops.windowMs,
      firstTs: v.firstTs,
      requestIds: v.requestIds,
      toolCallIds: v.toolCallIds,
      spentUsd: v.spentUsd,
      wastedUsd: v.wastedUsd,
      policy,
    };
    const message = loopMessage(data);
    const e = this.record(agentId, 'watch.loop', message, data, policy);
    if (!e) return;
    loop.seq = e.seq;
    this.d.alerts.send(loopAlert(agentId, this.name(agentId), data, message));
    this.apply(agentId, policy, 'loop', e.seq, message);
  }

  private checkSpike(agentId: string, log: SpendLog, now: number): void {
    const r = this.d.config.spikes;
    let s = this.spikes.get(agentId);
    if (!s) this.spikes.set(agentId, (s = { armed: true, checkedMs: 0, last: null }));
    // At most ten looks per window: a sum over the retained calls, never per call on a busy agent.
    if (now - s.checkedMs < Math.min(1000, r.windowMs / 10)) return;
    s.checkedMs = now;
    const spike = spikeOf(log, now, { factor: r.factor, windowMs: r.windowMs, baselineMs: r.baselineMs, minMicros: usdToMicros(r.minUsd) });
    if (!spike) {
      s.armed = true;
      return;
    }
    if (!s.armed) return;
    s.armed = false;
    const round = (n: number, d = 6): number => Math.round(n * 10 ** d) / 10 ** d;
    const data: EventData['watch.spike'] = {
      rateUsdPerMin: round(microsToUsd(spike.rate)),
      baselineUsdPerMin: round(microsToUsd(spike.baseline)),
      factor: round(spike.factor, 1),
      windowMs: r.windowMs,
      baselineMs: r.baselineMs,
      requestIds: spike.ids.slice(-MAX_IDS),
      spentUsd: microsToUsd(spike.micros),
      policy: r.policy,
    };
    const message = spikeMessage(data);
    const e = this.record(agentId, 'watch.spike', message, data, r.policy);
    if (!e) return;
    s.last = { ...data, seq: e.seq, ts: e.ts };
    this.d.alerts.send(spikeAlert(agentId, this.name(agentId), data, message));
    this.apply(agentId, r.policy, 'spike', e.seq, message);
  }

  private checkStalls(): void {
    const { afterMs, policy } = this.d.config.stalls;
    const now = this.now();
    for (const [agentId, a] of this.activity) {
      if (a.stalled || !stalled(a.lastMs, now, afterMs) || this.d.gate.isPaused(agentId)) continue;
      const brief = this.d.state.agentBrief(agentId);
      // A supervised run that is running: an external agent's token has no run to stall.
      if (brief?.kind !== 'supervised' || brief.status !== 'running') continue;
      // An LLM call in flight (its reservation held) or waiting for budget is no stall: a long
      // answer or a slow provider is the agent working. Idle from when it ends.
      const budget = this.d.state.getAgent(agentId)?.budget;
      if (budget && (budget.reservedUsd > 0 || budget.waiting > 0)) {
        a.lastMs = now;
        continue;
      }
      a.stalled = true;
      const data: EventData['watch.stall'] = { idleMs: now - a.lastMs, lastActivity: iso(a.lastMs), lastProgress: a.lastProgressMs === null ? null : iso(a.lastProgressMs), policy };
      const message = stallMessage(data);
      const e = this.record(agentId, 'watch.stall', message, data, policy);
      if (!e) continue;
      this.d.alerts.send(stallAlert(agentId, brief.name, data, message));
      this.apply(agentId, policy, 'stall', e.seq, message);
    }
  }

  private record<T extends 'watch.loop' | 'watch.spike' | 'watch.stall'>(agentId: string, type: T, message: string, data: EventData[T], policy: WatchPolicy): IronEvent | null {
    try {
      return this.d.state.record({ agentId, type, severity: policy === 'warn' ? 'warn' : 'critical', message, data } as never);
    } catch (err) {
      // The database is closing (shutdown): the detection is lost, never the call that made it.
      this.d.logger.error({ err }, `watch: could not record ${type}`);
      return null;
    }
  }

  private name(agentId: string): string {
    return this.d.state.agentBrief(agentId)?.shownName ?? agentId;
  }

  /** The detection's policy: pause the agent, or stop it (as a spent budget's `stop` does). */
  private apply(agentId: string, policy: WatchPolicy, cause: Exclude<PauseCause, 'manual'>, seq: number, message: string): void {
    if (policy === 'warn') return;
    const brief = this.d.state.agentBrief(agentId);
    if (!brief || TERMINAL_STATUSES.has(brief.status)) return;
    if (policy === 'stop') {
      this.d.agents.stop(agentId, `watch: ${message}`);
      return;
    }
    if (this.d.gate.isPaused(agentId)) return;
    this.pause(agentId, { by: 'watch', reason: message, cause, causeSeq: seq });
  }

  // ── pause and resume ───────────────────────────────────────────────────────────────────

  pause(agentId: string, o: { by: string; reason: string; cause: PauseCause; causeSeq: number | null }): AgentView {
    const agent = this.d.state.getAgent(agentId);
    if (!agent) throw new NotFoundError(`no agent ${agentId}`);
    if (agent.paused) throw new ConflictError(`agent ${agentId} is already paused (since ${agent.paused.since}, by ${agent.paused.by})`);
    if (TERMINAL_STATUSES.has(agent.status)) throw new ConflictError(`agent ${agentId} has already ${agent.status}`);
    const since = iso(this.now());
    this.d.state.updateAgent(
      agentId,
      { paused: { since, by: o.by, reason: o.reason, cause: o.cause } },
      {
        type: 'agent.paused',
        severity: 'warn',
        message: `Agent ${agent.calledName ?? agent.name} paused by ${o.by}: ${o.reason}. Its next LLM and tool calls wait until an admin resumes it`,
        data: { by: o.by, reason: o.reason, cause: o.cause, causeSeq: o.causeSeq },
      },
    );
    this.d.gate.pause(agentId);
    return this.d.state.getAgent(agentId)!;
  }

  resume(agentId: string, by: string): AgentView {
    const agent = this.d.state.getAgent(agentId);
    if (!agent) throw new NotFoundError(`no agent ${agentId}`);
    if (!agent.paused) throw new ConflictError(`agent ${agentId} is not paused`);
    const pausedMs = Math.max(0, this.now() - Date.parse(agent.paused.since));
    const held = this.d.gate.held(agentId);
    this.d.state.updateAgent(
      agentId,
      { paused: null },
      {
        type: 'agent.resumed',
        severity: 'info',
        message: `Agent ${agent.calledName ?? agent.name} resumed by ${by} after ${Math.round(pausedMs / 1000)} s${held > 0 ? `; ${held} held call${held === 1 ? '' : 's'} go on` : ''}`,
        data: { by, pausedMs, held },
      },
    );
    this.d.gate.resume(agentId);
    // The pause was no idleness: the stall clock starts again.
    if (this.activity.has(agentId)) this.touch(agentId);
    return this.d.state.getAgent(agentId)!;
  }

  // ── what GET /api/agents/:id/watch shows ───────────────────────────────────────────────

  view(agent: AgentView): WatchView {
    const now = this.now();
    const a = this.activity.get(agent.id);
    const { loops, stalls, spikes } = this.d.config;
    return {
      paused: agent.paused,
      loops: this.loops.active(agent.id, now).map((l) => this.loopView(agent.id, l)),
      stall: { idleMs: a ? now - a.lastMs : 0, stalled: a?.stalled ?? false, lastActivity: a ? iso(a.lastMs) : null },
      spike: this.spikes.get(agent.id)?.last ?? null,
      config: { loops, stalls, spikes },
    };
  }
}
