import { and, asc, desc, eq, gt, lte, sql } from 'drizzle-orm';
import { boundRun } from './bound.js';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { conversationItems, conversations, type ConversationItemRow, type ConversationRow } from './schema-runtime.js';
import type { Tx } from './writer.js';

/** Items to add to a conversation, bodies already sealed by the caller. */
export type NewConversationItem = Pick<ConversationItemRow, 'itemId' | 'body'>;

/** A turn's items appended to its conversation, in the call's own ledger transaction. */
export interface ConversationAppend {
  conversationId: string;
  agentId: string;
  items: NewConversationItem[];
  now: number;
  expiresAt: number;
}

/**
 * The Conversations API's state (`conversations`, `conversation_items`): per agent, each
 * conversation and its items in order. Every read takes the agent and `now`: another agent's
 * conversation and an expired one are the same as none. Bodies are opaque here (sealed by the gateway).
 */
export class ConversationsStore {
  private readonly db: StoreDb;
  // What a turn in a conversation runs (its context read before it is sent, its items appended
  // with its ledger row), prepared once, as ResponsesStore's: built and compiled per call before.
  private readonly byId;
  private readonly itemsOf;
  private readonly anyItemOf;
  private readonly touch;
  private readonly insertItem;

  constructor(state: StateManager) {
    this.db = storeDb(state);
    const p = (name: string) => sql.placeholder(name);
    this.byId = this.db.orm
      .select()
      .from(conversations)
      .where(and(eq(conversations.id, p('id')), eq(conversations.agentId, p('agentId')), gt(conversations.expiresAt, p('now'))))
      .prepare();
    this.itemsOf = this.db.orm
      .select()
      .from(conversationItems)
      .where(eq(conversationItems.conversationId, p('conversationId')))
      .orderBy(asc(conversationItems.seq))
      .prepare();
    this.anyItemOf = this.db.orm
      .select({ item: conversationItems })
      .from(conversationItems)
      .innerJoin(conversations, eq(conversations.id, conversationItems.conversationId))
      .where(and(eq(conversationItems.agentId, p('agentId')), eq(conversationItems.itemId, p('itemId')), gt(conversations.expiresAt, p('now'))))
      .orderBy(desc(conversationItems.seq))
      .limit(1)
      .prepare();
    this.touch = boundRun(
      this.db.sqlite,
      this.db.orm
        .update(conversations)
        .set({ expiresAt: sql`${p('expiresAt')}` })
        .where(and(eq(conversations.id, p('conversationId')), eq(conversations.agentId, p('agentId'))))
        .toSQL(),
    );
    this.insertItem = boundRun(
      this.db.sqlite,
      this.db.orm
        .insert(conversationItems)
        .values({ conversationId: p('conversationId'), agentId: p('agentId'), itemId: p('itemId'), body: p('body'), createdAt: p('createdAt') })
        .toSQL(),
    );
  }

  /** A new conversation with its first items, all or nothing. */
  create(row: ConversationRow, items: NewConversationItem[]): void {
    this.db.writer.now(() => {
      this.db.orm.insert(conversations).values(row).run();
      this.insertItems(row.id, row.agentId, items, row.createdAt);
    }, null);
  }

  /** The agent's conversation `id`, unless it has expired by `now`. */
  get(agentId: string, id: string, now: number): ConversationRow | null {
    return this.byId.get({ id, agentId, now }) ?? null;
  }

  /** A conversation's items, oldest first. */
  items(conversationId: string): ConversationItemRow[] {
    return this.itemsOf.all({ conversationId });
  }

  /** One item of a conversation (its latest copy, should an id have been added twice). */
  item(conversationId: string, itemId: string): ConversationItemRow | null {
    const rows = this.db.orm
      .select()
      .from(conversationItems)
      .where(and(eq(conversationItems.conversationId, conversationId), eq(conversationItems.itemId, itemId)))
      .all();
    return rows.at(-1) ?? null;
  }

  /** The agent's latest copy of item `itemId` in any of its live conversations (an `item_reference`). */
  anyItem(agentId: string, itemId: string, now: number): ConversationItemRow | null {
    return this.anyItemOf.get({ agentId, itemId, now })?.item ?? null;
  }

  /** New metadata (sealed) and a later expiry; whether the conversation was there. */
  update(agentId: string, id: string, patch: Partial<Pick<ConversationRow, 'metadata'>> & Pick<ConversationRow, 'expiresAt'>): boolean {
    return this.db.writer.now(
      () =>
        this.db.orm
          .update(conversations)
          .set(patch)
          .where(and(eq(conversations.id, id), eq(conversations.agentId, agentId)))
          .run().changes > 0,
      null,
    ).result;
  }

  /** Items added through the items route, and the conversation's later expiry, in one write. */
  add(a: ConversationAppend): void {
    this.db.writer.now(() => this.appendRows(a), null);
  }

  /**
   * A turn's items appended inside the call's own write (its ledger row's transaction), all or
   * nothing (a savepoint of its own). A conversation deleted meanwhile takes nothing.
   */
  append(tx: Tx, a: ConversationAppend): void {
    this.db.writer.within(tx, () => this.appendRows(a));
  }

  private appendRows(a: ConversationAppend): void {
    const done = this.touch({ expiresAt: a.expiresAt, conversationId: a.conversationId, agentId: a.agentId });
    if (done.changes > 0) this.insertItems(a.conversationId, a.agentId, a.items, a.now);
  }

  private insertItems(conversationId: string, agentId: string, items: NewConversationItem[], now: number): void {
    for (const it of items) this.insertItem({ conversationId, agentId, itemId: it.itemId, body: it.body, createdAt: now });
  }

  /** Delete one item of a conversation; whether there was one. */
  deleteItem(conversationId: string, itemId: string, expiresAt: number): boolean {
    return this.db.writer.now(() => {
      const gone = this.db.orm
        .delete(conversationItems)
        .where(and(eq(conversationItems.conversationId, conversationId), eq(conversationItems.itemId, itemId)))
        .run().changes;
      if (gone > 0) this.db.orm.update(conversations).set({ expiresAt }).where(eq(conversations.id, conversationId)).run();
      return gone > 0;
    }, null).result;
  }

  /** Delete the agent's conversation `id` and its items; whether there was one. */
  delete(agentId: string, id: string): boolean {
    return this.db.writer.now(
      () =>
        this.db.orm
          .delete(conversations)
          .where(and(eq(conversations.id, id), eq(conversations.agentId, agentId)))
          .run().changes > 0,
      null,
    ).result;
  }

  /** Drop every conversation expired by `now` (its items go with it); how many went. */
  purgeExpired(now: number): number {
    return this.db.writer.now(() => this.db.orm.delete(conversations).where(lte(conversations.expiresAt, now)).run().changes, null).result;
  }
}
