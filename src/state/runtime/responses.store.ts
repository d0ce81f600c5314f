import { and, asc, eq, gt, lte, sql } from 'drizzle-orm';
import { boundRun } from './bound.js';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { responseItems, responses, type ResponseItemRow, type ResponseRow } from './schema-runtime.js';
import type { Tx } from './writer.js';

/** A response to keep and the items of its turn, bodies already sealed by the caller. */
export interface StoredResponseInput {
  response: Omit<ResponseRow, never>;
  items: Array<Omit<ResponseItemRow, 'seq' | 'responseId' | 'agentId'>>;
}

/**
 * The Responses API's stored state (`responses`, `response_items`): per agent, each kept
 * response and the items of its turn. Every read takes the agent and `now`: another agent's
 * row and an expired one are the same as none. Bodies are opaque here (sealed by the gateway).
 */
export class ResponsesStore {
  private readonly db: StoreDb;
  // Prepared once: a Responses turn kept is one row and its items on every stored call (building
  // and preparing the statements per call was about a tenth of a streamed turn's CPU).
  private readonly insertResponse;
  private readonly insertItem;
  private readonly dropItems;
  // The reads a continued turn makes before it is sent (its chain), prepared once too: drizzle
  // built each query's SQL and SQLite compiled it on every call (~0.1 ms of a continued stream).
  private readonly byId;
  private readonly itemsById;
  private readonly itemsByKind;
  private readonly itemById;

  constructor(state: StateManager) {
    this.db = storeDb(state);
    const p = (name: string) => sql.placeholder(name);
    // Run by position (bound.ts), as the ledger's row is: drizzle's prepared `run` fills its
    // placeholders by name on every call (~4 µs of a turn's three rows).
    this.insertResponse = boundRun(
      this.db.sqlite,
      this.db.orm
        .insert(responses)
        .values({
          id: p('id'),
          agentId: p('agentId'),
          model: p('model'),
          previousResponseId: p('previousResponseId'),
          inputTokens: p('inputTokens'),
          outputTokens: p('outputTokens'),
          body: p('body'),
          createdAt: p('createdAt'),
          expiresAt: p('expiresAt'),
        })
        // The same agent given an id again (a provider that reuses its ids): the newer turn is the one
        // it received last, and what it continues from; the older turn's items go (below).
        .onConflictDoUpdate({
          target: [responses.agentId, responses.id],
          set: {
            model: sql`excluded.model`,
            previousResponseId: sql`excluded.previous_response_id`,
            inputTokens: sql`excluded.input_tokens`,
            outputTokens: sql`excluded.output_tokens`,
            body: sql`excluded.body`,
            createdAt: sql`excluded.created_at`,
            expiresAt: sql`excluded.expires_at`,
          },
        })
        .toSQL(),
    );
    this.dropItems = boundRun(
      this.db.sqlite,
      this.db.orm
        .delete(responseItems)
        .where(and(eq(responseItems.agentId, p('agentId')), eq(responseItems.responseId, p('responseId'))))
        .toSQL(),
    );
    this.insertItem = boundRun(
      this.db.sqlite,
      this.db.orm
        .insert(responseItems)
        .values({ responseId: p('responseId'), agentId: p('agentId'), itemId: p('itemId'), kind: p('kind'), body: p('body') })
        .toSQL(),
    );
    this.byId = this.db.orm
      .select()
      .from(responses)
      .where(and(eq(responses.id, p('id')), eq(responses.agentId, p('agentId')), gt(responses.expiresAt, p('now'))))
      .prepare();
    this.itemsById = this.db.orm
      .select()
      .from(responseItems)
      .where(and(eq(responseItems.agentId, p('agentId')), eq(responseItems.responseId, p('responseId'))))
      .orderBy(asc(responseItems.seq))
      .prepare();
    this.itemsByKind = this.db.orm
      .select()
      .from(responseItems)
      .where(and(eq(responseItems.agentId, p('agentId')), eq(responseItems.responseId, p('responseId')), eq(responseItems.kind, p('kind'))))
      .orderBy(asc(responseItems.seq))
      .prepare();
    this.itemById = this.db.orm
      .select({ item: responseItems })
      .from(responseItems)
      .innerJoin(responses, and(eq(responses.agentId, responseItems.agentId), eq(responses.id, responseItems.responseId)))
      .where(and(eq(responseItems.agentId, p('agentId')), eq(responseItems.itemId, p('itemId')), gt(responses.expiresAt, p('now'))))
      .orderBy(sql`${responseItems.seq} DESC`)
      .limit(1)
      .prepare();
  }

  /**
   * Keep a response and its items (inside the call's own write: its ledger row's transaction),
   * all or nothing (a savepoint of its own, so a failure here leaves the rest of the write whole).
   * Ids are the agent's: another agent's response of the same id is another row. The same agent
   * given an id again keeps the newer turn (the one it received last) in place of the older one.
   */
  insert(tx: Tx, r: StoredResponseInput): void {
    this.db.writer.within(tx, () => {
      const { id: responseId, agentId } = r.response;
      this.insertResponse(r.response);
      this.dropItems({ agentId, responseId });
      for (const it of r.items) this.insertItem({ responseId, agentId, itemId: it.itemId, kind: it.kind, body: it.body });
    });
  }

  /** The agent's response `id`, unless it has expired by `now`. */
  get(agentId: string, id: string, now: number): ResponseRow | null {
    return this.byId.get({ id, agentId, now }) ?? null;
  }

  /** The agent's response's items of one kind, in their order. */
  items(agentId: string, responseId: string, kind: 'input' | 'output'): ResponseItemRow[] {
    return this.itemsByKind.all({ agentId, responseId, kind });
  }

  /** The items of several of the agent's responses (a chain), response by response in the order given, each's in the order kept. */
  itemsOf(agentId: string, responseIds: string[]): ResponseItemRow[] {
    // One prepared read a response (an index seek each), not a query of as many values built per call.
    return responseIds.flatMap((responseId) => this.itemsById.all({ agentId, responseId }));
  }

  /** The agent's latest kept copy of item `itemId` whose response has not expired by `now`. */
  item(agentId: string, itemId: string, now: number): ResponseItemRow | null {
    return this.itemById.get({ agentId, itemId, now })?.item ?? null;
  }

  /** Delete the agent's response `id` and its items; whether there was one. */
  delete(agentId: string, id: string): boolean {
    return this.db.writer.now(
      () =>
        this.db.orm
          .delete(responses)
          .where(and(eq(responses.id, id), eq(responses.agentId, agentId)))
          .run().changes > 0,
      null,
    ).result;
  }

  /** Drop every response expired by `now` (its items go with it); how many went. */
  purgeExpired(now: number): number {
    return this.db.writer.now(() => this.db.orm.delete(responses).where(lte(responses.expiresAt, now)).run().changes, null).result;
  }
}
