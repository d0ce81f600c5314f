import type { Client, Notification, Pool } from 'pg';
import type { Logger } from '../core/logger.js';
import { endClient } from '../state/index.js';

// What the panel's replicas tell one another, through their PostgreSQL: every replica writes
// the frames its viewers should see to `panel_feed` and NOTIFYs; every replica LISTENs, reads
// what the others wrote and tells its own viewers. So a viewer on replica A sees a batch that
// landed on replica B (docs/panel.md, "Replicas"). The table, not the NOTIFY payload, carries
// the frames (a payload is at most 8,000 bytes) and lets a replica whose listening connection
// dropped catch up without a gap. Caches another replica must forget (a token revoked) are a
// NOTIFY of their own. A replica pings itself through its pool every PING_MS and must hear it on
// its listening connection: one that died without a word (no reset, no error) is given up when a
// committed ping is not heard within PING_WAIT_MS, and whoever relies on hearing every NOTIFY
// (`onListening`) is told from the moment no ping was heard for HEARD_WITHIN_MS, whatever the
// reason (the pool too busy to send one counts): it fails closed.

/** The channels: new frames (the payload: the last id written), and caches to forget (the payload: which). */
const FEED = 'iron_cage_feed';
const FORGET = 'iron_cage_forget';
const PING = 'iron_cage_ping';
/** A ping of the listening connection this often; not heard within PING_WAIT_MS of its NOTIFY's commit, the connection is given up. */
const PING_MS = 2_000;
const PING_WAIT_MS = 2_000;
/**
 * No ping heard for this long, sent or not (the pool too busy to send one, the database away):
 * this replica no longer says it hears every NOTIFY. Longer than a busy pool's wait, so that load
 * alone does not make the promise flap; a ping sent and not heard says so within PING_WAIT_MS.
 */
const HEARD_WITHIN_MS = 10_000;
/** How often the pings are judged (and sent, every PING_MS). */
const TICK_MS = 500;
/** Frames written within this long go in one row (one insert and one NOTIFY for a burst of batches). */
const FLUSH_MS = 15;
/** A read of the others' frames at least this often, NOTIFY or not (a notification lost with a connection). */
const POLL_MS = 1_000;
/** An id the feed skipped (a write not yet committed, or rolled back) is looked for again this long. */
const GAP_MS = 10_000;
/** Rows read at once. */
const PAGE = 500;
/**
 * The statements a replica runs every few milliseconds under load, prepared by name on each pooled
 * connection (as an unnamed statement, each was parsed and planned at every run).
 */
const WRITE = `with f as (insert into panel_feed (at, origin, frames) values ($1, $2, $3) returning id) select id, pg_notify('${FEED}', id::text) from f`;
const READ = 'select id, origin, frames from panel_feed where id > $1 order by id limit $2';
const READ_GAPS = 'select id, origin, frames from panel_feed where id > $1 or id = any($3::bigint[]) order by id limit $2';
const NOTIFY = 'select pg_notify($1, $2)';
/** Frames kept in memory for a viewer that reconnects (`?after=`): this many, at most this old. */
const RING = 5_000;
const RING_MS = 5 * 60_000;
/** How long a written row stays in panel_feed (the sweep deletes what is older). */
export const FEED_KEEP_MS = 5 * 60_000;

/** Frames as one row of the feed, by its id, each already JSON with its feed id in it. */
export interface FeedEntry {
  id: number;
  frames: Buffer[];
}

export interface PanelBusOptions {
  pool: Pool;
  /** The database URL: the listening connection is a client of its own (LISTEN holds a connection). */
  url: string;
  replica: string;
  logger: Logger;
  now?: () => number;
}

/** `{"kind":…}` with the feed id first: `{"feed":12,"kind":…}`. */
function stamp(frame: string, id: number): Buffer {
  return Buffer.from(`{"feed":${id},${frame.slice(1)}`);
}

export class PanelBus {
  private readonly subscribers = new Set<(e: FeedEntry) => void>();
  private readonly forgetters = new Set<(what: string) => void>();
  private readonly listeningWatchers = new Set<(listening: boolean, why?: 'lost' | 'quiet') => void>();
  private pinger: NodeJS.Timeout | null = null;
  /** The pings: the last number sent, whether its query is under way, the last committed (and when), the last heard (and when). */
  private pings = 0;
  private pinging = false;
  private committed = { n: 0, at: 0 };
  private heardPing = { n: 0, at: 0 };
  /** Listening and its own ping heard lately: what `onListening` says. */
  private hearing = false;
  private pending: string[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** The highest id read, the ids below it not seen yet (by when to give up on each), and the recent entries. */
  private last = 0;
  private readonly gaps = new Map<number, number>();
  private readonly ring: Array<FeedEntry & { at: number }> = [];
  private listener: Client | null = null;
  /** Gives the listening connection up (it reconnects). */
  private giveUp: ((err: Error) => void) | null = null;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private poll: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;
  private listening = false;

  constructor(private readonly o: PanelBusOptions) {}

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  /** Where the feed stands now (frames written before this are not read), then listen. */
  async start(): Promise<void> {
    const r = await this.o.pool.query<{ id: string | null }>('select max(id) as id from panel_feed');
    this.last = Number(r.rows[0]?.id ?? 0);
    await this.listen();
    this.poll = setInterval(() => this.read(), POLL_MS);
    this.poll.unref();
    this.pinger = setInterval(() => this.tick(), TICK_MS);
    this.pinger.unref();
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: this.o.url, application_name: `iron-cage panel ${this.o.replica} (listen)` });
    const lost = (err?: Error) => {
      if (this.listener !== c) return;
      this.listener = null;
      c.removeAllListeners('notification');
      void endClient(c);
      if (this.closed) return;
      if (this.listening) this.o.logger.warn(`the panel's feed from its other replicas is interrupted (${err?.message ?? 'connection closed'}); reconnecting`);
      this.setListening(false);
      this.retry = setTimeout(() => void this.listen().catch(() => undefined), 1_000);
      this.retry.unref();
    };
    c.on('error', lost);
    c.on('end', () => lost());
    c.on('notification', (n: Notification) => {
      if (n.channel === FEED) return this.read();
      if (n.channel === PING) return this.heard(n.payload ?? '');
      if (n.channel !== FORGET) return;
      // `<what> <origin>`: what this replica said itself it has forgotten already.
      const [what = '', origin = ''] = (n.payload ?? '').split(' ');
      if (origin !== this.o.replica) this.tell(this.forgetters, 'forgetter', what);
    });
    this.listener = c;
    this.giveUp = lost;
    try {
      await c.connect();
      await c.query(`LISTEN ${FEED}; LISTEN ${FORGET}; LISTEN ${PING}`);
    } catch (err) {
      lost(err as Error);
      return;
    }
    // Closed meanwhile (close() ended the listener it saw, not this one, if it was not this one yet).
    if (this.closed || this.listener !== c) {
      if (this.listener === c) this.listener = null;
      c.removeAllListeners('notification');
      await endClient(c);
      return;
    }
    if (!this.listening && this.last > 0) this.o.logger.debug('panel feed: listening');
    this.setListening(true);
    // What came while it was away: read now.
    this.read();
  }

  private setListening(on: boolean): void {
    this.listening = on;
    // A new connection hears nothing yet: its first ping says when it does.
    this.committed = { n: this.pings, at: 0 };
    this.heardPing = { n: this.pings, at: 0 };
    if (on) this.ping();
    else this.setHearing(false, 'lost');
  }

  private setHearing(on: boolean, why?: 'lost' | 'quiet'): void {
    if (this.hearing === on) return;
    this.hearing = on;
    this.tell(this.listeningWatchers, 'listener', on, why);
  }

  /** Call each of `fns` with `args`; one that throws is logged, the others still called. */
  private tell<A extends unknown[]>(fns: ReadonlySet<(...args: A) => void>, what: string, ...args: A): void {
    for (const fn of fns) {
      try {
        fn(...args);
      } catch (err) {
        this.o.logger.error({ err }, `a panel feed ${what} failed`);
      }
    }
  }

  /**
   * Judge the pings, after what the sockets hold has been read (a stalled event loop runs its
   * timers before its reads: a ping waiting in the socket is not a ping lost), then send the next.
   */
  private tick(): void {
    if (this.closed || !this.listening) return;
    setImmediate(() => {
      if (this.closed || !this.listening) return;
      const now = Date.now();
      if (this.hearing && now - this.heardPing.at > HEARD_WITHIN_MS) this.setHearing(false, 'quiet');
      if (this.committed.n > this.heardPing.n && now - this.committed.at > PING_WAIT_MS) {
        this.giveUp?.(new Error(`it did not hear its own ping within ${PING_WAIT_MS / 1000} s`));
        return;
      }
      if (now - this.committed.at >= PING_MS) this.ping();
    });
  }

  /** Ping the listening connection through the pool: the NOTIFY must come back on it. */
  private ping(): void {
    if (this.closed || !this.listening || this.pinging) return;
    const n = ++this.pings;
    const listener = this.listener;
    this.pinging = true;
    this.o.pool.query({ name: 'feed_notify', text: NOTIFY, values: [PING, `${this.o.replica} ${n}`] }).then(
      // Committed: delivered to every listener now.
      () => {
        this.pinging = false;
        if (this.listener === listener && n > this.committed.n) this.committed = { n, at: Date.now() };
      },
      // The pool could not send it (the database away, the pool too busy): no news; no ping heard either.
      () => {
        this.pinging = false;
      },
    );
  }

  private heard(payload: string): void {
    const [replica, number] = payload.split(' ');
    const n = Number(number);
    if (replica !== this.o.replica || !(n > this.heardPing.n && n <= this.pings)) return;
    this.heardPing = { n, at: Date.now() };
    this.setHearing(true);
  }

  /**
   * Hear when this replica starts and stops hearing every NOTIFY: `true` once listening and its
   * own ping came back; `false` from when it may miss one: `lost` (its connection lost, or deaf
   * to a ping it sent: what came meanwhile may be missed) or `quiet` (no ping heard within
   * HEARD_WITHIN_MS, none could be sent).
   */
  onListening(fn: (listening: boolean, why?: 'lost' | 'quiet') => void): () => void {
    this.listeningWatchers.add(fn);
    return () => this.listeningWatchers.delete(fn);
  }

  /** Hear every row of the feed, this replica's and the others', each once. */
  subscribe(fn: (e: FeedEntry) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Hear what another replica asked every replica to forget (`tokens`: a token was revoked). */
  onForget(fn: (what: string) => void): () => void {
    this.forgetters.add(fn);
    return () => this.forgetters.delete(fn);
  }

  /** Ask every other replica to forget a cache (this one forgets its own itself). */
  forget(what: 'tokens'): void {
    tellReplicas(this.o.pool, what, this.o.replica).catch((err: Error) => this.o.logger.warn(`could not tell the other replicas to forget ${what}: ${err.message}`));
  }

  /** Frames for every replica's viewers (JSON objects as strings); written within FLUSH_MS with the others of the moment. */
  publish(frames: readonly string[]): void {
    if (frames.length === 0 || this.closed) return;
    this.pending.push(...frames);
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flushing = this.flushing.then(() => this.flush());
    }, FLUSH_MS);
    this.flushTimer.unref();
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const frames = this.pending;
    this.pending = [];
    let id: number;
    try {
      const r = await this.o.pool.query<{ id: string }>({ name: 'feed_write', text: WRITE, values: [this.now(), this.o.replica, frames.join('\n')] });
      id = Number(r.rows[0]!.id);
    } catch (err) {
      // The database is away: this replica's viewers still hear it (the others will not).
      this.o.logger.warn(`the panel's feed could not be written (${(err as Error).message}): this replica's viewers only hear it`);
      this.deliver({ id: 0, frames: frames.map((f) => stamp(f, 0)) });
      return;
    }
    this.deliver({ id, frames: frames.map((f) => stamp(f, id)) });
  }

  private deliver(e: FeedEntry): void {
    if (e.id > 0) {
      const at = this.now();
      this.ring.push({ ...e, at });
      while (this.ring.length > RING || (this.ring.length > 0 && this.ring[0]!.at < at - RING_MS)) this.ring.shift();
    }
    this.tell(this.subscribers, 'subscriber', e);
  }

  /** Read what the others wrote since the last read (one read at a time; a NOTIFY meanwhile reads again after). */
  private read(): void {
    if (this.closed) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = this.readOnce()
      .catch((err: Error) => this.o.logger.debug(`panel feed: a read failed (${err.message}); the next one catches up`))
      .finally(() => {
        this.reading = null;
        if (this.readAgain) {
          this.readAgain = false;
          this.read();
        }
      });
  }

  private async readOnce(): Promise<void> {
    const now = this.now();
    for (const [id, until] of this.gaps) if (until < now) this.gaps.delete(id);
    for (;;) {
      const gaps = [...this.gaps.keys()];
      const r = await this.o.pool.query<{ id: string; origin: string; frames: string }>(
        gaps.length > 0 ? { name: 'feed_read_gaps', text: READ_GAPS, values: [this.last, PAGE, gaps] } : { name: 'feed_read', text: READ, values: [this.last, PAGE] },
      );
      for (const row of r.rows) {
        const id = Number(row.id);
        if (this.gaps.delete(id) === false) {
          // Ids between the last read and this one not there yet: an insert of another replica not yet committed (or rolled back).
          for (let g = this.last + 1; g < id && g <= this.last + PAGE; g++) this.gaps.set(g, now + GAP_MS);
        }
        if (id > this.last) this.last = id;
        if (row.origin === this.o.replica) continue;
        this.deliver({ id, frames: row.frames.split('\n').map((f) => stamp(f, id)) });
      }
      if (r.rows.length < PAGE) return;
    }
  }

  /**
   * The frames after `after` this replica has kept (a reconnecting viewer's), oldest first; null
   * when it no longer holds them all (the viewer refetches what it shows instead).
   */
  since(after: number): Buffer[] | null {
    // Nothing newer than the viewer's place that this replica knows of.
    if (this.newest() <= after) return [];
    const newer = this.ring.filter((e) => e.id > after);
    // The first it missed must be kept (ids are consecutive but for a write rolled back). A ring
    // that holds nothing after it while the feed went on (a replica started since: it reads from
    // where the feed stood at its start) does not have what the viewer missed either.
    const first = newer.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...newer.map((e) => e.id));
    if (first > after + 1 && this.ring.every((e) => e.id > after)) return null;
    return newer.flatMap((e) => e.frames);
  }

  /** The newest feed id this replica has read or written. */
  newest(): number {
    return this.ring.reduce((m, e) => Math.max(m, e.id), this.last);
  }

  /** Delete the rows older than FEED_KEEP_MS (the sweep, once per fleet). */
  async prune(now = this.now()): Promise<number> {
    const r = await this.o.pool.query('delete from panel_feed where at < $1', [now - FEED_KEEP_MS]);
    return r.rowCount ?? 0;
  }

  /** Write what is pending, stop listening. */
  async close(): Promise<void> {
    // Closed first: a frame published while the last write is in flight is not left to a timer that fires after the pool ended.
    this.closed = true;
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    this.flushing = this.flushing.then(() => this.flush());
    await this.flushing.catch(() => undefined);
    if (this.poll) clearInterval(this.poll);
    if (this.pinger) clearInterval(this.pinger);
    if (this.retry) clearTimeout(this.retry);
    const c = this.listener;
    this.listener = null;
    if (c) await endClient(c);
    // A read in flight ends before the pool does.
    await this.reading;
  }
}

/**
 * Tell every running replica to forget a cache now (`tokens`: a token was revoked), from a replica
 * or from a command that changed the database itself (`panel runtime rm`, `panel token revoke`).
 * Without it they would refuse the token within their cache's 5 s anyway.
 */
export async function tellReplicas(pool: Pick<Pool, 'query'>, what: 'tokens', origin = 'cli'): Promise<void> {
  await pool.query(NOTIFY, [FORGET, `${what} ${origin}`]);
}
