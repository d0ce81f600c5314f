import { and, asc, eq, gte, lt, sql } from 'drizzle-orm';
import type { PanelDb } from './pg.js';
import { loginFailures, panelReplicas } from './schema-panel.js';

// The panel's replicas as PostgreSQL knows them (several panel processes behind a load balancer): each process says it is alive every
// few seconds; the others read who is there (whether a start is alone, what GET /api/health
// lists) and remove one gone quiet for long.

export type ReplicaRow = typeof panelReplicas.$inferSelect;

export class ReplicasStore {
  constructor(private readonly db: PanelDb) {}

  /** This replica is alive (and draining or not), now. */
  async beat(r: Omit<ReplicaRow, 'seenAt'>, now: number): Promise<void> {
    await this.db
      .insert(panelReplicas)
      .values({ ...r, seenAt: now })
      .onConflictDoUpdate({ target: panelReplicas.id, set: { seenAt: now, draining: r.draining, url: r.url, version: r.version } });
  }

  /** The replicas seen within `withinMs` of `now`, oldest start first. */
  async live(now: number, withinMs: number): Promise<ReplicaRow[]> {
    return this.db
      .select()
      .from(panelReplicas)
      .where(gte(panelReplicas.seenAt, now - withinMs))
      .orderBy(asc(panelReplicas.startedAt));
  }

  /** This replica stopped. */
  async remove(id: string): Promise<void> {
    await this.db.delete(panelReplicas).where(eq(panelReplicas.id, id));
  }

  /** Replicas not seen for `quietMs` (killed, their machine gone): removed; how many. */
  async prune(now: number, quietMs: number): Promise<number> {
    return (
      await this.db
        .delete(panelReplicas)
        .where(lt(panelReplicas.seenAt, now - quietMs))
        .returning({ id: panelReplicas.id })
    ).length;
  }
}

/**
 * Failed logins counted in PostgreSQL, so every replica of a panel counts the same tries (a
 * password guesser spread over the replicas behind a load balancer is held back as one). Each
 * key counts over a window from its first failure; a new failure after the window starts a new one.
 */
export class LoginFailuresStore {
  constructor(private readonly db: PanelDb) {}

  /** The key's count and window start, if it has failures in a window still open. */
  async get(key: string, now: number, windowMs: number): Promise<{ count: number; since: number; told: boolean } | null> {
    const [row] = await this.db
      .select()
      .from(loginFailures)
      .where(and(eq(loginFailures.key, key), gte(loginFailures.since, now - windowMs)));
    return row ? { count: row.count, since: row.since, told: row.told } : null;
  }

  /** One more failure for `key` (a new window if its last one closed), in one statement; the window's count with it. */
  async fail(key: string, now: number, windowMs: number): Promise<number> {
    const [row] = await this.db
      .insert(loginFailures)
      .values({ key, count: 1, since: now, told: false })
      .onConflictDoUpdate({
        target: loginFailures.key,
        set: {
          count: sql`case when ${loginFailures.since} >= ${now - windowMs} then ${loginFailures.count} + 1 else 1 end`,
          told: sql`case when ${loginFailures.since} >= ${now - windowMs} then ${loginFailures.told} else false end`,
          since: sql`case when ${loginFailures.since} >= ${now - windowMs} then ${loginFailures.since} else ${now} end`,
        },
      })
      .returning({ count: loginFailures.count });
    return row!.count;
  }

  /** Take one failure back (one counted before it was checked, that then succeeded). */
  async forgive(key: string): Promise<void> {
    await this.db
      .update(loginFailures)
      .set({ count: sql`greatest(${loginFailures.count} - 1, 0)` })
      .where(eq(loginFailures.key, key));
  }

  async reset(key: string): Promise<void> {
    await this.db.delete(loginFailures).where(eq(loginFailures.key, key));
  }

  /** Mark the key's refusal said in its window; true only for the replica that marked it first. */
  async markTold(key: string): Promise<boolean> {
    return (
      (
        await this.db
          .update(loginFailures)
          .set({ told: true })
          .where(and(eq(loginFailures.key, key), eq(loginFailures.told, false)))
          .returning({ key: loginFailures.key })
      ).length > 0
    );
  }

  /** Windows closed before `now - windowMs`: removed. */
  async prune(now: number, windowMs: number): Promise<number> {
    return (
      await this.db
        .delete(loginFailures)
        .where(lt(loginFailures.since, now - windowMs))
        .returning({ key: loginFailures.key })
    ).length;
  }
}
