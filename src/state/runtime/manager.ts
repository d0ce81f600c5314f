import type Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { and, asc, desc, eq, getTableColumns, gt, lte, sql } from 'drizzle-orm';
import { emitPermissionWarning, type PermissionWarning } from './files.js';
import { closeStateFile, openStateFile } from './open.js';
import { llmRequestSeverity, TERMINAL_STATUSES, type AgentStatus, type EventType, type IronEvent, type NewEvent, type Progress, type Severity } from '../../core/events.js';
import { NotFoundError } from '../../core/errors.js';
import { microsToUsd } from '../../core/money.js';
import { repairAgentRow } from './repair.js';
import { toEvent, toView } from './rows.js';
import * as sharedTables from '../schema.js';
import type { AgentRow } from '../schema.js';
import * as ownTables from './schema-runtime.js';
import type { AgentPatch, AgentView, Checkpoint, LiveBudgets, LiveHeld, NewAgent } from './types.js';
import type { EventSpec } from '../dialect.js';
import { Writer, type Tx, type Written } from './writer.js';
import { processAlive } from '../../core/process.js';

/** What the stores in this folder build on (not exported from index.ts): drizzle, for every statement (prepared once on hot paths). */
export interface StoreDb {
  readonly orm: BetterSQLite3Database<typeof schema>;
  /** The connection itself, for a statement drizzle built that is run by position (bound.ts). */
  readonly sqlite: Database.Database;
  /** The StateManager's one write path: see Writer. */
  readonly writer: Writer;
  /** Where a stored value repaired on load is reported (see repair.ts). */
  readonly warn: PermissionWarning;
}

const storeDbs = new WeakMap<StateManager, StoreDb>();

/** For the stores of this folder (RequestsStore, ToolsStore, PiiStore, …). */
export function storeDb(state: StateManager): StoreDb {
  return storeDbs.get(state)!;
}

/**
 * One store per state file, made on first use: a store prepares its statements when made
 * (drizzle builds each query's SQL then, a few milliseconds a store), and the runtime, its routes
 * and its timeline read the same tables.
 *
 * @example
 * static of = onePerState((state) => new RequestsStore(state));
 */
export function onePerState<T>(make: (state: StateManager) => T): (state: StateManager) => T {
  const made = new WeakMap<StateManager, T>();
  return (state) => {
    let store = made.get(state);
    if (store === undefined) {
      store = make(state);
      made.set(state, store);
    }
    return store;
  };
}

/** Every table of the runtime's database: those both databases hold, and its own. */
const schema = { ...sharedTables, ...ownTables };

type Listener = (event: IronEvent) => void;

const CHECKPOINTS_KEPT = 20;
/** The agents table's columns a rewrite sets: all but the key. */
const AGENT_COLUMNS = Object.keys(getTableColumns(schema.agents)).filter((k) => k !== 'id') as Array<Exclude<keyof AgentRow, 'id'>>;

/**
 * The one owner of state: in-memory agent records for fast reads, SQLite for durability,
 * and the event bus. Every change is persisted first and then broadcast as one event, so a
 * subscriber never sees something the database does not hold.
 */
export class StateManager {
  readonly path: string;
  private readonly sqlite: Database.Database;
  private readonly db: BetterSQLite3Database<typeof schema>;
  private readonly agents = new Map<string, AgentRow>();
  /** The names agents gave themselves through their SDK, as this process heard them (`nameAgent`). */
  private readonly calledNames = new Map<string, string>();
  private readonly listeners = new Set<Listener>();
  private readonly writer: Writer;
  /** An agent's row rewritten whole from its mirror: prepared once (progress reports come once a call, per agent). */
  private readonly rewriteAgent;
  /** An agent's stored Responses and Conversations state (kept by triggers, migration 0024). */
  private readonly storedOf;
  private closed = false;
  onListenerError: (err: unknown) => void = () => {};

  private constructor(
    path: string,
    private readonly budgets: LiveBudgets | null,
    private readonly warn: PermissionWarning,
    private readonly held: LiveHeld | null = null,
  ) {
    this.path = path;
    this.sqlite = openStateFile(path, warn);
    this.db = drizzle(this.sqlite, { schema });
    this.writer = new Writer(this.sqlite, (event) => this.emit(event));
    storeDbs.set(this, { orm: this.db, sqlite: this.sqlite, writer: this.writer, warn });
    const placeholders = Object.fromEntries(AGENT_COLUMNS.map((k) => [k, sql`${sql.placeholder(k)}`]));
    this.storedOf = this.db
      .select({ bytes: schema.storedUsage.bytes, items: schema.storedUsage.items })
      .from(schema.storedUsage)
      .where(eq(schema.storedUsage.agentId, sql.placeholder('agentId')))
      .prepare();
    this.rewriteAgent = this.db
      .update(schema.agents)
      .set(placeholders)
      .where(eq(schema.agents.id, sql.placeholder('id')))
      .prepare();
    for (const row of this.db.select().from(schema.agents).all()) this.agents.set(row.id, repairAgentRow(row, warn));
  }

  /**
   * Open (creating and migrating as needed) the state file. `budgets` supplies the live spend
   * shown in status objects; without it they show the limit alone. The files are the
   * operator's alone (0600); `warn` hears of files found wider (and tightened), of stored rows
   * repaired at load (see repairAgentRow) and of a one-time upgrade of an old database (see migrate.ts).
   *
   * @example
   *   const state = StateManager.open('./iron_state.db', { budgets: tracker, warn: (m) => logger.warn(m) });
   */
  static open(path: string, o: { budgets?: LiveBudgets; warn?: PermissionWarning; held?: LiveHeld } = {}): StateManager {
    const sm = new StateManager(path, o.budgets ?? null, o.warn ?? emitPermissionWarning, o.held ?? null);
    sm.reapOrphans();
    return sm;
  }

  /** Agents left "running" by an iron-cage that is gone (killed, machine rebooted) ended abnormally. */
  private reapOrphans(): void {
    for (const row of this.agents.values()) {
      if (row.kind === 'external' || TERMINAL_STATUSES.has(row.status as AgentStatus)) continue;
      if (row.supervisorPid !== null && row.supervisorPid !== process.pid && processAlive(row.supervisorPid)) continue;
      this.updateAgent(
        row.id,
        { status: 'crashed', endedAt: new Date().toISOString(), pid: null },
        {
          type: 'agent.exited',
          severity: 'error',
          message: 'Agent marked crashed: the iron-cage process supervising it ended while it ran',
          data: { status: 'crashed', exitCode: null, signal: null, durationMs: 0 },
        },
      );
    }
  }

  // ── events ────────────────────────────────────────────────────────────────────────────

  /** Persist, then broadcast. Returns the stored event with its sequence number. */
  record<T extends NewEvent>(e: T): IronEvent {
    return this.writer.event(e);
  }

  /**
   * Join this tick's group commit with a write of a feature's own (stores' write statements take
   * the `tx` it is given) and the event that announces it, built from the write's result;
   * resolves once both are on disk and the event is broadcast. A throw inside `write` undoes it
   * and rejects, the rest of the batch unharmed.
   *
   * @example
   *   const { result: id } = await state.writeSoon((tx) => requests.insert(tx, row), (id) => requestEvent(id));
   */
  writeSoon<T>(write: (tx: Tx) => T, event: EventSpec<T>): Promise<Written<T>> {
    return this.writer.soon(write, event);
  }

  private emit(event: IronEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events with seq > after, oldest first. */
  eventsAfter(after: number, limit: number, agentId?: string): IronEvent[] {
    const where = agentId ? and(gt(schema.events.seq, after), eq(schema.events.agentId, agentId)) : gt(schema.events.seq, after);
    return this.db.select().from(schema.events).where(where).orderBy(asc(schema.events.seq)).limit(limit).all().map(toEvent);
  }

  /** The newest `limit` events, returned oldest first. */
  lastEvents(limit: number, agentId?: string): IronEvent[] {
    const q = this.db.select().from(schema.events);
    const rows = (agentId ? q.where(eq(schema.events.agentId, agentId)) : q).orderBy(desc(schema.events.seq)).limit(limit).all();
    return rows.reverse().map(toEvent);
  }

  /** An agent's events of the given types, oldest first, or the newest `limit` of them newest first. */
  eventsOfTypes(agentId: string, types: readonly LookupEventType[], o: { limit?: number; newestFirst?: boolean } = {}): IronEvent[] {
    const order = o.newestFirst ? desc(schema.events.seq) : asc(schema.events.seq);
    // One query per type: with a single type the planner always takes the index; with a list it
    // may walk the agent's whole log instead to save a sort.
    const rows = types.flatMap((type) => {
      const q = this.db.select().from(schema.events).where(lookup(agentId, type)).orderBy(order);
      return o.limit === undefined ? q.all() : q.limit(o.limit).all();
    });
    rows.sort((a, b) => (o.newestFirst ? b.seq - a.seq : a.seq - b.seq));
    return (o.limit === undefined ? rows : rows.slice(0, o.limit)).map(toEvent);
  }

  /**
   * How many events of one type the agent has, through the index; `actions`: only those whose
   * `data.action` is one of them (a policy's refusals); `kinds`: only those whose `data.kind` is.
   */
  countEvents(agentId: string, type: LookupEventType, o: { actions?: readonly string[]; kinds?: readonly string[] } = {}): number {
    const oneOf = (path: string, values: readonly string[] | undefined) =>
      values
        ? sql`json_extract(${schema.events.data}, ${path}) IN (${sql.join(
            values.map((a) => sql`${a}`),
            sql`, `,
          )})`
        : undefined;
    return (
      this.db
        .select({ n: sql<number>`count(*)` })
        .from(schema.events)
        .where(and(lookup(agentId, type), oneOf('$.action', o.actions), oneOf('$.kind', o.kinds)))
        .get()?.n ?? 0
    );
  }

  lastSeq(): number {
    const r = this.db
      .select({ m: sql<number | null>`max(${schema.events.seq})` })
      .from(schema.events)
      .get();
    return r?.m ?? 0;
  }

  /**
   * The agent's events by severity, in all and its output lines: from event_counts (a row per type
   * and severity) and, for its `llm.request` events, its ledger's totals (`announcedCalls`): never its log.
   */
  eventCounts(agentId: string): Record<Severity, number> & { total: number; output: number } {
    const c = schema.eventCounts;
    const rows = this.db.select({ severity: c.severity, type: c.type, n: c.n }).from(c).where(eq(c.agentId, agentId)).all();
    const out = { debug: 0, info: 0, warn: 0, error: 0, critical: 0, total: 0, output: 0 };
    for (const r of rows) {
      out[r.severity as Severity] += r.n;
      out.total += r.n;
      if (r.type === 'agent.output') out.output += r.n;
    }
    for (const r of this.announcedCalls(agentId)) {
      out[llmRequestSeverity(r.status)] += r.n;
      out.total += r.n;
    }
    return out;
  }

  /** How many events of one type the agent has (`budget.refused`: its calls the budget refused), from event_counts or, for `llm.request`, the ledger's totals: never its log. */
  eventCountOf(agentId: string, type: EventType): number {
    if (type === 'llm.request') return this.announcedCalls(agentId).reduce((n, r) => n + r.n, 0);
    this.countOfType ??= this.prepareCountOfType();
    return this.countOfType.get({ agentId, type })?.n ?? 0;
  }

  /** eventCountOf's query, prepared on its first use: a policy rule with `after_injection` asks it at every tool call. */
  private countOfType: ReturnType<StateManager['prepareCountOfType']> | undefined;
  private prepareCountOfType() {
    const c = schema.eventCounts;
    return this.db
      .select({ n: sql<number>`coalesce(sum(${c.n}), 0)` })
      .from(c)
      .where(and(eq(c.agentId, sql.placeholder('agentId')), eq(c.type, sql.placeholder('type'))))
      .prepare();
  }

  /** The agent's `llm.request` events by its calls' status: its ledger rows an event announces (schema.ts, ANNOUNCED_LEDGER_SQL), from llm_totals. */
  private announcedCalls(agentId: string): Array<{ status: string; n: number }> {
    const t = schema.llmTotals;
    return this.db
      .select({ status: t.status, n: sql<number>`sum(${t.requests})` })
      .from(t)
      .where(and(eq(t.agentId, agentId), sql.raw(schema.ANNOUNCED_LEDGER_SQL)))
      .groupBy(t.status)
      .all();
  }

  // ── agents ────────────────────────────────────────────────────────────────────────────

  registerAgent(a: NewAgent): AgentView {
    const row: AgentRow = {
      id: a.id,
      name: a.name,
      kind: a.kind,
      script: a.script,
      args: JSON.stringify(a.args),
      status: a.kind === 'external' ? 'running' : 'starting',
      pid: null,
      supervisorPid: a.kind === 'supervised' ? process.pid : null,
      createdAt: new Date().toISOString(),
      startedAt: a.kind === 'external' ? new Date().toISOString() : null,
      endedAt: null,
      exitCode: null,
      exitSignal: null,
      restarts: 0,
      progressDone: 0,
      progressTotal: null,
      progressUnit: 'items',
      limitMicros: a.limitMicros,
      environment: a.environment ?? 'development',
      progressSucceeded: null,
      progressFailed: null,
      paused: null,
      sandbox: null,
    };
    this.writer.now(
      () => this.db.insert(schema.agents).values(row).run(),
      {
        agentId: a.id,
        type: 'agent.registered',
        severity: 'info',
        message: `Agent registered: ${a.name}${a.script ? ` (${a.script})` : ''}`,
        data: { name: a.name, script: a.script, limitUsd: a.limitMicros === null ? null : microsToUsd(a.limitMicros) },
      },
      () => this.agents.set(row.id, row),
    );
    return this.view(row);
  }

  /** Change an agent and record the event that describes the change, atomically. */
  updateAgent(id: string, patch: AgentPatch, e: Omit<NewEvent, 'agentId'>): IronEvent {
    const current = this.agents.get(id);
    if (!current) throw new NotFoundError(`no agent ${id}`);
    const next: AgentRow = { ...current };
    if (patch.status !== undefined) next.status = patch.status;
    if (patch.pid !== undefined) next.pid = patch.pid;
    if (patch.startedAt !== undefined) next.startedAt = patch.startedAt;
    if (patch.endedAt !== undefined) next.endedAt = patch.endedAt;
    if (patch.exitCode !== undefined) next.exitCode = patch.exitCode;
    if (patch.exitSignal !== undefined) next.exitSignal = patch.exitSignal;
    if (patch.restarts !== undefined) next.restarts = patch.restarts;
    if (patch.limitMicros !== undefined) next.limitMicros = patch.limitMicros;
    if (patch.paused !== undefined) next.paused = patch.paused === null ? null : JSON.stringify(patch.paused);
    if (patch.sandbox !== undefined) next.sandbox = patch.sandbox === null ? null : JSON.stringify(patch.sandbox);
    if (patch.progress !== undefined) {
      next.progressDone = patch.progress.done;
      next.progressTotal = patch.progress.total;
      next.progressUnit = patch.progress.unit;
      next.progressSucceeded = patch.progress.succeeded;
      next.progressFailed = patch.progress.failed;
    }
    return this.writer.now(
      () => this.rewriteAgent.run(next),
      { ...e, agentId: id } as NewEvent,
      () => this.agents.set(id, next),
    ).event!;
  }

  /** What agent `id` keeps stored of Responses and Conversations state (`stored_usage`, kept by triggers): bytes as stored, and items. */
  storedUsage(id: string): { bytes: number; items: number } {
    return this.storedOf.get({ agentId: id }) ?? { bytes: 0, items: 0 };
  }

  /**
   * The name an agent gives itself through its SDK: kept beside its own (never replacing it: its
   * name is what budgets and tokens match) and said once as an `agent.named` event; the same name
   * again says nothing. Returns whether it changed.
   */
  nameAgent(id: string, name: string): boolean {
    const row = this.agents.get(id);
    if (!row) throw new NotFoundError(`no agent ${id}`);
    if (this.calledNames.get(id) === name) return false;
    const before = this.calledNames.get(id);
    // Set first: the event's listeners (the dashboard's feed) read the agent's status with it.
    this.calledNames.set(id, name);
    try {
      this.record({
        agentId: id,
        type: 'agent.named',
        severity: 'info',
        message: name === row.name ? `Agent calls itself ${name}` : `Agent calls itself ${name} (it runs as ${row.name})`,
        data: { name, runsAs: row.name },
      });
    } catch (e) {
      if (before === undefined) this.calledNames.delete(id);
      else this.calledNames.set(id, before);
      throw e;
    }
    return true;
  }

  getAgent(id: string): AgentView | null {
    const row = this.agents.get(id);
    return row ? this.view(row) : null;
  }

  private view(row: AgentRow): AgentView {
    const v = toView(row);
    v.calledName = this.calledNames.get(row.id) ?? null;
    v.stored = this.storedUsage(row.id);
    if (v.paused && this.held) v.paused.held = this.held(row.id);
    const live = this.budgets?.snapshot(row.id) ?? null;
    if (live?.state === 'exhausted' && !TERMINAL_STATUSES.has(v.status)) v.status = 'budget_exhausted';
    if (live) {
      v.budget =
        live.limitMicros === null && live.spentMicros === 0 && live.reservedMicros === 0 && !live.waitingCalls
          ? null
          : {
              limitUsd: live.limitMicros === null ? null : microsToUsd(live.limitMicros),
              spentUsd: microsToUsd(live.spentMicros),
              reservedUsd: microsToUsd(live.reservedMicros),
              waiting: live.waitingCalls ?? 0,
            };
    }
    return v;
  }

  /** What the gateway checks on every call, without building a whole status object. */
  agentBrief(id: string): { kind: string; name: string; shownName: string; status: AgentStatus; limitMicros: number | null } | null {
    const row = this.agents.get(id) ?? (this.loadAgent(id) ? this.agents.get(id)! : null);
    // `name` is what budgets, tokens and rules match; `shownName` what messages and alerts call it (the name it gave itself, else that).
    return row ? { kind: row.kind, name: row.name, shownName: this.calledNames.get(id) ?? row.name, status: row.status as AgentStatus, limitMicros: row.limitMicros } : null;
  }

  /** An agent's progress as last reported, without building a whole status object (the money path reads it per call). */
  progressOf(id: string): Progress | null {
    const r = this.agents.get(id);
    return r ? { done: r.progressDone, total: r.progressTotal, unit: r.progressUnit, succeeded: r.progressSucceeded, failed: r.progressFailed } : null;
  }

  /** Pick up an agent another iron-cage process (e.g. `iron-cage token create`) wrote to the file. */
  loadAgent(id: string): AgentView | null {
    const known = this.agents.get(id);
    if (known) return this.view(known);
    const row = this.db.select().from(schema.agents).where(eq(schema.agents.id, id)).get();
    if (!row) return null;
    this.agents.set(row.id, repairAgentRow(row, this.warn));
    return this.view(this.agents.get(row.id)!);
  }

  listAgents(): AgentView[] {
    // Newest first. ISO times sort as strings; localeCompare would load ICU's collator on a process's first call (~24 ms).
    return [...this.agents.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0)).map((r) => this.view(r));
  }

  // ── checkpoints ───────────────────────────────────────────────────────────────────────

  /** `stateJson` is already-serialized JSON (validated at the boundary). */
  saveCheckpoint(agentId: string, stateJson: string): { id: number; createdAt: string } {
    if (!this.agents.has(agentId)) throw new NotFoundError(`no agent ${agentId}`);
    const createdAt = new Date().toISOString();
    const bytes = Buffer.byteLength(stateJson);
    const { result: id } = this.writer.now(
      () => {
        const { id } = this.db.insert(schema.checkpoints).values({ agentId, createdAt, state: stateJson }).returning({ id: schema.checkpoints.id }).get();
        // Only the latest matters for resuming; keep a short history, not every checkpoint ever.
        this.db
          .delete(schema.checkpoints)
          .where(and(eq(schema.checkpoints.agentId, agentId), lte(schema.checkpoints.id, id - CHECKPOINTS_KEPT)))
          .run();
        return id;
      },
      (id) => ({ agentId, type: 'agent.checkpoint', severity: 'debug', message: `Checkpoint saved (${bytes} bytes)`, data: { checkpointId: id, bytes } }),
    );
    return { id, createdAt };
  }

  latestCheckpoint(agentId: string): Checkpoint | null {
    const row = this.db.select().from(schema.checkpoints).where(eq(schema.checkpoints.agentId, agentId)).orderBy(desc(schema.checkpoints.id)).limit(1).get();
    return row ? { id: row.id, agentId: row.agentId, createdAt: row.createdAt, state: JSON.parse(row.state) } : null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.writer.flush();
    this.closed = true;
    this.listeners.clear();
    closeStateFile(this.sqlite);
  }
}

/** The event types eventsOfTypes and countEvents find through their index. */
export type LookupEventType = (typeof schema.LOOKUP_EVENT_TYPES)[number];

/** An agent's events of one type; the repeated index condition is what lets SQLite use the partial index. */
function lookup(agentId: string, type: LookupEventType) {
  return and(eq(schema.events.agentId, agentId), sql.raw(schema.LOOKUP_EVENT_TYPES_SQL), eq(schema.events.type, type));
}
