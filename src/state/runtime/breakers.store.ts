import { sql } from 'drizzle-orm';
import type { IronEvent, NewEvent } from '../../core/events.js';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { breakers } from '../schema.js';

export interface StoredBreaker {
  service: string;
  /** Parsed JSON as written; the breaker validates it on restore. */
  snapshot: unknown;
  tiers: unknown;
}

export interface SavedBreaker {
  service: string;
  snapshot: object;
  tiers: object;
}

/**
 * Circuit breakers' saved state (the `breakers` table), for the tool services' breakers, the LLM
 * providers' and the MCP servers' alike, so a breaker OPEN when the process stopped is OPEN when it
 * starts again. Its one writer is the breaker registry (src/reliability), which keys provider
 * breakers `llm:<provider>` and MCP servers' `mcp:<server>`, names no tool service can have, and keeps an owner's own numbers (the
 * tools' fallback tiers) in `tiers`.
 *
 * @example
 *   const store = new BreakerStore(state);
 *   store.save({ service: 'llm:openai', snapshot: breaker.snapshot(), tiers: {} }, event);
 */
export class BreakerStore {
  private readonly db: StoreDb;
  private readonly upsert;

  constructor(state: StateManager) {
    this.db = storeDb(state);
    this.upsert = this.db.orm
      .insert(breakers)
      .values({
        service: sql.placeholder('service'),
        snapshot: sql.placeholder('snapshot'),
        tiers: sql.placeholder('tiers'),
        updatedAt: sql.placeholder('updatedAt'),
      })
      .onConflictDoUpdate({
        target: breakers.service,
        set: { snapshot: sql`excluded.snapshot`, tiers: sql`excluded.tiers`, updatedAt: sql`excluded.updated_at` },
      })
      .prepare();
  }

  load(): StoredBreaker[] {
    return this.db.orm
      .select()
      .from(breakers)
      .all()
      .map((r) => ({ service: r.service, snapshot: parseOrNull(r.snapshot), tiers: parseOrNull(r.tiers) }));
  }

  /** Save one breaker and, in the same transaction, the event that says why (a transition). */
  save(b: SavedBreaker, event: NewEvent | null): IronEvent | null {
    return this.db.writer.now(() => this.write([b]), event).event;
  }

  /** Save breakers' snapshots now (not group-committed: a later write could overwrite a transition). */
  saveAll(list: SavedBreaker[]): void {
    this.db.writer.now(() => this.write(list), null);
  }

  private write(list: SavedBreaker[]): void {
    const updatedAt = new Date().toISOString();
    for (const x of list) this.upsert.run({ service: x.service, snapshot: JSON.stringify(x.snapshot), tiers: JSON.stringify(x.tiers), updatedAt });
  }
}

/** A JSON column as written, or null when it does not parse (the reader then starts afresh). */
export function parseOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
