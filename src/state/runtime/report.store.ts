import { asc, gt, inArray, max, min, sql } from 'drizzle-orm';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { agents, breakers, events, llmRequests, toolCalls, type AgentRow, type EventRow, type LlmRequestRow, type ToolCallRow } from '../schema.js';
import type { TelemetryCursor } from '../telemetry.js';

export type BreakerRow = typeof breakers.$inferSelect;

/** The rows of the runtime's ledger after a cursor, and the cursor just past them. */
export interface ReportRows {
  events: EventRow[];
  llmRequests: LlmRequestRow[];
  toolCalls: ToolCallRow[];
  /** The agents the rows above name: state, sent whole each time. */
  agents: AgentRow[];
  /** Where the next read starts once these rows are on the panel. */
  next: TelemetryCursor;
  /** A kind filled its limit: more rows wait right behind these (catching up, not lingering). */
  more: boolean;
}

/**
 * What the reporter (src/report) sends to the control panel, read from the runtime's own state
 * file through the StateManager's connection: reads only, each bounded, so one read stays a few
 * milliseconds of the event loop however far behind the panel is.
 *
 * A call's row is sent once it has ended: the read of `llm_requests` stops just before the first
 * row still `pending`, so the ids the panel holds stay contiguous and its cursor means "every row
 * up to here".
 *
 * @example
 *   const store = new ReportStore(state);
 *   const rows = store.after({ eventSeq: 0, llmRequestId: 0, toolCallId: 0 }, 1000);
 *   // … sent; then store.after(rows.next, 1000)
 */
export class ReportStore {
  private readonly db: StoreDb;
  private readonly eventsAfter;
  private readonly requestsAfter;
  private readonly toolCallsAfter;
  private readonly maxKeys;

  constructor(state: StateManager) {
    this.db = storeDb(state);
    const { orm } = this.db;
    const after = sql.placeholder('after');
    const limit = sql.placeholder('limit');
    this.eventsAfter = orm.select().from(events).where(gt(events.seq, after)).orderBy(asc(events.seq)).limit(limit).prepare();
    this.requestsAfter = orm.select().from(llmRequests).where(gt(llmRequests.id, after)).orderBy(asc(llmRequests.id)).limit(limit).prepare();
    this.toolCallsAfter = orm.select().from(toolCalls).where(gt(toolCalls.id, after)).orderBy(asc(toolCalls.id)).limit(limit).prepare();
    // Index lookups (the largest rowid of each table), not counts: cheap at any size.
    this.maxKeys = {
      eventSeq: orm
        .select({ v: max(events.seq) })
        .from(events)
        .prepare(),
      llmRequestId: orm
        .select({ v: max(llmRequests.id) })
        .from(llmRequests)
        .prepare(),
      toolCallId: orm
        .select({ v: max(toolCalls.id) })
        .from(toolCalls)
        .prepare(),
      // Old tool calls are pruned (TOOL_CALLS_KEPT): what is below the first kept row is gone.
      firstToolCallId: orm
        .select({ v: min(toolCalls.id) })
        .from(toolCalls)
        .prepare(),
    };
  }

  /** At most `limit` rows of each kind after `cursor`, oldest first, with the agents they name. */
  after(cursor: TelemetryCursor, limit: number): ReportRows {
    const ev = this.eventsAfter.all({ after: cursor.eventSeq, limit });
    const requests = this.requestsAfter.all({ after: cursor.llmRequestId, limit });
    const stop = requests.findIndex((r) => r.status === 'pending');
    const ended = stop === -1 ? requests : requests.slice(0, stop);
    const tools = this.toolCallsAfter.all({ after: cursor.toolCallId, limit });
    const ids = new Set<string>();
    for (const r of [...ev, ...ended, ...tools]) if (r.agentId !== null) ids.add(r.agentId);
    const named =
      ids.size === 0
        ? []
        : this.db.orm
            .select()
            .from(agents)
            .where(inArray(agents.id, [...ids]))
            .all();
    return {
      events: ev,
      llmRequests: ended,
      toolCalls: tools,
      agents: named,
      next: {
        eventSeq: ev.at(-1)?.seq ?? cursor.eventSeq,
        llmRequestId: ended.at(-1)?.id ?? cursor.llmRequestId,
        toolCallId: tools.at(-1)?.id ?? cursor.toolCallId,
      },
      more: ev.length === limit || (stop === -1 && requests.length === limit) || tools.length === limit,
    };
  }

  /**
   * Rows not yet past `cursor`: no key is ever reused (tool calls' AUTOINCREMENT; the event log
   * and the ledger refuse DELETE, so their largest key is never freed) and only tool calls are
   * ever deleted (the oldest, pruned), so the distance from the cursor to each table's largest
   * key is the count, without counting.
   */
  behind(cursor: TelemetryCursor): number {
    const k = this.maxKeys;
    const m = { eventSeq: k.eventSeq.get()?.v, llmRequestId: k.llmRequestId.get()?.v, toolCallId: k.toolCallId.get()?.v, firstToolCallId: k.firstToolCallId.get()?.v };
    const gap = (max: number | null | undefined, at: number) => Math.max(0, (max ?? 0) - at);
    const toolsFrom = Math.max(cursor.toolCallId, (m.firstToolCallId ?? 1) - 1);
    return gap(m.eventSeq, cursor.eventSeq) + gap(m.llmRequestId, cursor.llmRequestId) + gap(m.toolCallId, toolsFrom);
  }

  /** The largest key of each kind this file holds (0 for none): what a panel can have had from it. */
  keys(): TelemetryCursor {
    const k = this.maxKeys;
    return { eventSeq: k.eventSeq.get()?.v ?? 0, llmRequestId: k.llmRequestId.get()?.v ?? 0, toolCallId: k.toolCallId.get()?.v ?? 0 };
  }

  /** Breakers whose saved row differs from what the panel was last sent (`sent`: service → breakerVersion). */
  breakersChanged(sent: ReadonlyMap<string, string>): BreakerRow[] {
    return this.db.orm
      .select()
      .from(breakers)
      .all()
      .filter((b) => sent.get(b.service) !== breakerVersion(b));
  }
}

/** A breaker row's whole content as one string: two saves in the same millisecond still differ. */
export const breakerVersion = (b: BreakerRow): string => `${b.updatedAt}\n${b.snapshot}\n${b.tiers}`;
