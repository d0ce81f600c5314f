import type { NewEvent } from '../../core/events.js';
import { and, desc, eq, gt, inArray, lt, lte, sql, type SQL } from 'drizzle-orm';
import { onePerState, storeDb, type StateManager, type StoreDb } from './manager.js';
import { parseOrNull } from './breakers.store.js';
import { boundRun } from './bound.js';
import { toolCalls, type ToolCallRow } from '../schema.js';
import { toolCache } from './schema-runtime.js';

export interface CachedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  storedAt: number;
  expiresAt: number;
}

export type ToolCallInput = Omit<ToolCallRow, 'id'>;

export interface CacheWrite {
  key: string;
  service: string;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  storedAt: number;
  expiresAt: number;
}

export interface ToolCallQuery {
  service?: string;
  agentId?: string;
  /** Only calls with a smaller id (paging backwards). */
  before?: number;
  limit: number;
}

/** Calls kept in tool_calls; older rows are pruned as new ones arrive. */
export const TOOL_CALLS_KEPT = 100_000;
/** Prune tool_calls back to TOOL_CALLS_KEPT every this many rows (one range delete, not one per row). */
const PRUNE_CALLS_EVERY = 1_000;

/**
 * The tool egress proxy's tables: the response cache (fallback tier 2) and the per-call record
 * (its services' breakers are saved by the registry through BreakerStore). Takes the StateManager so every write goes through the one database
 * and events keep the persist-then-broadcast rule.
 */
export class ToolsStore {
  /** The state file's one ToolsStore (its statements prepared once): what every reader of a runtime takes. */
  static readonly of = onePerState((state) => new ToolsStore(state));

  private readonly getCache;
  private readonly putCache;
  private readonly insertCall;
  private readonly db: StoreDb;

  constructor(state: StateManager) {
    this.db = storeDb(state);
    const db = this.db.orm;
    this.getCache = db
      .select()
      .from(toolCache)
      .where(and(eq(toolCache.key, sql.placeholder('key')), gt(toolCache.expiresAt, sql.placeholder('now'))))
      .prepare();
    this.putCache = db
      .insert(toolCache)
      .values({
        key: sql.placeholder('key'),
        service: sql.placeholder('service'),
        status: sql.placeholder('status'),
        headers: sql.placeholder('headers'),
        body: sql.placeholder('body'),
        storedAt: sql.placeholder('storedAt'),
        expiresAt: sql.placeholder('expiresAt'),
      })
      .onConflictDoUpdate({
        target: toolCache.key,
        set: {
          status: sql`excluded.status`,
          headers: sql`excluded.headers`,
          body: sql`excluded.body`,
          storedAt: sql`excluded.stored_at`,
          expiresAt: sql`excluded.expires_at`,
        },
      })
      .prepare();
    // Every proxied call and MCP tools/call: prepared once and bound by position (bound.ts), as
    // an event's insert is: drizzle's own run tests each parameter's class on every call.
    const p = sql.placeholder;
    this.insertCall = boundRun(
      this.db.sqlite,
      db
        .insert(toolCalls)
        .values({
          ts: p('ts'),
          agentId: p('agentId'),
          service: p('service'),
          method: p('method'),
          path: p('path'),
          status: p('status'),
          tier: p('tier'),
          reason: p('reason'),
          detail: p('detail'),
          upstreamStatus: p('upstreamStatus'),
          latencyMs: p('latencyMs'),
          upstreamMs: p('upstreamMs'),
          bytes: p('bytes'),
          redactions: p('redactions'),
          fault: p('fault'),
        })
        .toSQL(),
    );
  }

  // ── response cache ────────────────────────────────────────────────────────────────────

  cacheGet(key: string, now: number): CachedResponse | null {
    const row = this.getCache.get({ key, now });
    if (!row) return null;
    return {
      status: row.status,
      headers: (parseOrNull(row.headers) as Record<string, string> | null) ?? {},
      body: row.body,
      storedAt: row.storedAt,
      expiresAt: row.expiresAt,
    };
  }

  /** Keep the newest `maxEntries` of a service. Returns how many rows went. Only inside a write (cachePut's). */
  private cachePrune(service: string, maxEntries: number): number {
    // The stored_at of the oldest entry to keep, found by walking the (service, stored_at)
    // index; everything older goes. Ties at the boundary may keep a few extra rows.
    const boundary = this.db.orm
      .select({ at: toolCache.storedAt })
      .from(toolCache)
      .where(eq(toolCache.service, service))
      .orderBy(desc(toolCache.storedAt))
      .limit(1)
      .offset(maxEntries - 1)
      .get();
    if (!boundary) return 0;
    return this.db.orm
      .delete(toolCache)
      .where(and(eq(toolCache.service, service), lt(toolCache.storedAt, boundary.at)))
      .run().changes;
  }

  /** Drop the entries expired by `now`; how many went. */
  purgeExpired(now: number): number {
    return this.db.writer.now(() => this.db.orm.delete(toolCache).where(lte(toolCache.expiresAt, now)).run().changes, null).result;
  }

  /** Live entries per service (for the metrics). */
  cacheCounts(now: number): Map<string, number> {
    const rows = this.db.orm.select({ service: toolCache.service, n: sql<number>`count(*)` }).from(toolCache).where(gt(toolCache.expiresAt, now)).groupBy(toolCache.service).all();
    return new Map(rows.map((r) => [r.service, r.n]));
  }

  // ── per-call record ───────────────────────────────────────────────────────────────────

  /**
   * A live answer worth serving again, with the next group commit. `pruneTo` cuts the
   * service's cache back to its newest entries in the same transaction.
   */
  cachePut(c: CacheWrite, pruneTo: number | null): Promise<unknown> {
    const row = { ...c, headers: JSON.stringify(c.headers) };
    return this.db.writer.soon(() => {
      this.putCache.run(row);
      if (pruneTo !== null) this.cachePrune(c.service, pruneTo);
    }, null);
  }

  /**
   * One proxied call, group-committed with the other calls of this tick (a commit per call
   * cost more than the rest of the call), with its event if it has one (in the same write).
   * `later`: a call whose answer does not wait for its row (an MCP call's, written after it was
   * answered) shares a commit with those of the next few milliseconds (`Writer.later`).
   * Resolves once the row is on disk.
   */
  async recordCall(r: ToolCallInput, event: NewEvent | null = null, when: 'soon' | 'later' = 'soon'): Promise<number> {
    const { result } = await this.db.writer[when](() => {
      const id = Number(this.insertCall(r as unknown as Record<string, unknown>).lastInsertRowid);
      if (id > TOOL_CALLS_KEPT && id % PRUNE_CALLS_EVERY === 0)
        this.db.orm
          .delete(toolCalls)
          .where(lte(toolCalls.id, id - TOOL_CALLS_KEPT))
          .run();
      return id;
    }, event);
    return result;
  }

  /** Of an agent's last `last` tool calls (`read`: how many there were), those a tier answered (refusals before the chain have none) and those the cache answered. */
  tierCounts(agentId: string, last: number): { calls: number; cache: number; read: number } {
    // The newest `last` rows along (agent_id, id), counted: never the agent's whole history.
    const recent = this.db.orm.select({ tier: toolCalls.tier }).from(toolCalls).where(eq(toolCalls.agentId, agentId)).orderBy(desc(toolCalls.id)).limit(last).as('recent');
    const r = this.db.orm
      .select({ calls: sql<number>`count(${recent.tier})`, cache: sql<number>`coalesce(sum(${recent.tier} = 'cache'), 0)`, read: sql<number>`count(*)` })
      .from(recent)
      .get();
    return { calls: r?.calls ?? 0, cache: r?.cache ?? 0, read: r?.read ?? 0 };
  }

  /** An agent's calls that ended for one of `reasons` (`policy_denied`, `rate_limited`…), among its kept rows. */
  countReasons(agentId: string, reasons: readonly string[]): number {
    return (
      this.db.orm
        .select({ n: sql<number>`count(*)` })
        .from(toolCalls)
        .where(and(eq(toolCalls.agentId, agentId), inArray(toolCalls.reason, [...reasons])))
        .get()?.n ?? 0
    );
  }

  recentCalls(q: ToolCallQuery): ToolCallRow[] {
    const where: SQL[] = [];
    if (q.service !== undefined) where.push(eq(toolCalls.service, q.service));
    if (q.agentId !== undefined) where.push(eq(toolCalls.agentId, q.agentId));
    if (q.before !== undefined) where.push(lt(toolCalls.id, q.before));
    return this.db.orm
      .select()
      .from(toolCalls)
      .where(where.length > 0 ? and(...where) : undefined)
      .orderBy(desc(toolCalls.id))
      .limit(q.limit)
      .all();
  }
}
