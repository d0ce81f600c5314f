import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Principal, Role } from '../core/roles.js';
import { IronCageError, MissingTokenError, NotFoundError, UnauthorizedError } from '../core/errors.js';
import type { IronEvent } from '../core/events.js';
import type { ServerDeps } from './context.js';
import { upgradeRefusal } from './errors.js';
import { itemJson, liveFrames, snapshotFrame, type FeedItem } from './ws-frames.js';

const SNAPSHOT_EVENTS = 200;
const MAX_REPLAY = 10_000;
/** Events read from the database per page while a replay is built. */
const REPLAY_PAGE = 500;
/**
 * A client's send buffer (what `ws` and the socket hold for it, unsent) may not pass this: a
 * frame that would take it past is not queued and the client is closed with 1013 instead; it
 * reconnects with ?after= and loses nothing.
 */
export const WS_SEND_BUFFER_BYTES = 8 * 1024 * 1024;
/** A snapshot's events stop at this many bytes (a quarter of the send buffer: the live feed goes on behind it); `truncated` says so. */
const SNAPSHOT_BYTES = WS_SEND_BUFFER_BYTES / 4;
/** Snapshots built at the current seq, kept for the clients that ask for the same one. */
const SNAPSHOTS_KEPT = 16;
/**
 * Open sockets one token may hold; past it a socket is closed with 4429. An agent needs one or
 * two; people open a tab per screen.
 */
export const WS_MAX_PER_TOKEN: Readonly<Record<Role, number>> = { agent: 8, viewer: 128, admin: 128 };
/** After a close we started, a client that does not answer is dropped, so its buffer is freed. */
const CLOSE_GRACE_MS = 5_000;
const HEARTBEAT_MS = 30_000;
/**
 * How often every client's token is checked again, so a token revoked or a user removed in
 * another process (the CLI) closes its sockets within this plus the verification cache's life.
 * A revocation in this process re-checks at once.
 */
const RECHECK_MS = 2_000;
/** Close code for "your credentials are no longer good" (4000-4999: the application's own). */
export const WS_REVOKED = 4401;
/** Close code for "this token has too many sockets open". */
export const WS_TOO_MANY = 4429;
/** Close code for "too far behind": try again later (with ?after=). */
export const WS_TRY_LATER = 1013;

/**
 * Events after which a client wants the agent's fresh status object: lifecycle, progress and
 * budget changes. Not output lines or per-call records, which arrive by the thousand.
 */
function carriesStatus(type: string): boolean {
  return (type.startsWith('agent.') && type !== 'agent.output') || type.startsWith('budget.');
}

interface Client {
  ws: WebSocket;
  principal: Principal;
  /** The token it connected with, re-verified every RECHECK_MS. */
  token: string;
  alive: boolean;
}

/** Events as the snapshot carries them, and whether some were left out. */
interface Replay {
  events: string[];
  truncated: boolean;
}

/**
 * WebSocket fan-out of the event bus. On connect a client gets a snapshot (agents plus recent
 * events, or everything after its `after`), then every event. Events are batched per tick:
 * a burst is one frame (or a few of about 1 MB) per client instead of one per event, encoded
 * once and shared by every client that gets the same bytes.
 */
export class WsHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly clients = new Set<Client>();
  /** Open sockets per token. */
  private readonly perToken = new Map<string, number>();
  /**
   * Snapshots by scope and `after`, valid while the seq has not moved (every change of an agent
   * is an event): a crowd reconnecting at once shares one buffer instead of building one each.
   */
  private readonly snapshots = new Map<string, Buffer>();
  private snapshotsSeq = -1;
  private pending: IronEvent[] = [];
  private flushScheduled = false;
  private readonly unsubscribe: () => void;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly recheckTimer: NodeJS.Timeout;
  private readonly unhearInvalidate: () => void;
  private rechecking = false;
  private recheckAgain = false;

  constructor(private readonly deps: ServerDeps) {
    this.unsubscribe = deps.state.subscribe((ev) => this.enqueue(ev));
    this.heartbeat = setInterval(() => this.ping(), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.recheckTimer = setInterval(() => void this.recheck(), RECHECK_MS);
    this.recheckTimer.unref();
    this.unhearInvalidate = deps.tokens.onInvalidate(() => void this.recheck());
  }

  get size(): number {
    return this.clients.size;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const reject = (err: unknown) => void socket.end(upgradeRefusal(err));
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/ws') return reject(new NotFoundError(`no WebSocket endpoint at ${url.pathname}`));
    if (!this.deps.guard.sameOriginOrAllowed(req.headers.origin, req.headers.host)) {
      return reject(new IronCageError('forbidden_origin', 403, `origin ${req.headers.origin} is not allowed`));
    }
    let principal: Principal | Promise<Principal>;
    try {
      principal = this.deps.tokens.authenticate(req.headers, url.searchParams.get('token'));
    } catch (e) {
      return reject(e instanceof MissingTokenError ? new MissingTokenError('a token is required: /ws?token=<token>') : e);
    }
    const afterParam = url.searchParams.get('after');
    const after = afterParam === null ? null : Number(afterParam);
    if (after !== null && (!Number.isInteger(after) || after < 0)) {
      if (principal instanceof Promise) principal.catch(() => {});
      return reject(new IronCageError('invalid_request', 403, 'after must be a whole number 0 or more'));
    }
    const token = this.deps.tokens.credential(req.headers, url.searchParams.get('token'))!;
    Promise.resolve(principal).then((p) => this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, p, token, after)), reject);
  }

  /** Verify every client's token again; close with 4401 the sockets whose token is no longer good. */
  private async recheck(): Promise<void> {
    if (this.rechecking) return void (this.recheckAgain = true);
    if (this.clients.size === 0) return;
    this.rechecking = true;
    try {
      await Promise.all(
        [...this.clients].map(async (c) => {
          try {
            await this.deps.tokens.verify(c.token);
          } catch (e) {
            if (e instanceof UnauthorizedError) this.cutOff(c, WS_REVOKED, e.message);
          }
        }),
      );
    } finally {
      this.rechecking = false;
    }
    // A revocation heard mid-check may have missed a token already verified from the cache.
    if (this.recheckAgain) {
      this.recheckAgain = false;
      await this.recheck();
    }
  }

  private accept(ws: WebSocket, principal: Principal, token: string, after: number | null): void {
    const open = this.perToken.get(token) ?? 0;
    const cap = WS_MAX_PER_TOKEN[principal.role];
    if (open >= cap) return ws.close(WS_TOO_MANY, `too many WebSockets open for this token (at most ${cap})`);
    this.perToken.set(token, open + 1);
    const client: Client = { ws, principal, token, alive: true };
    const scope = principal.role === 'agent' ? principal.agentId! : undefined;
    // Everything below is synchronous: no event can slip between the replay and the live feed.
    this.flush();
    const snapshot = this.snapshot(scope, after);
    this.clients.add(client);
    ws.on('pong', () => (client.alive = true));
    ws.on('close', () => this.forget(client));
    ws.on('error', () => this.forget(client));
    ws.on('message', () => {
      /* the feed is one-way; clients talk REST */
    });
    ws.send(snapshot, { binary: false });
  }

  private snapshot(scope: string | undefined, after: number | null): Buffer {
    const { state } = this.deps;
    const seq = state.lastSeq();
    if (seq !== this.snapshotsSeq) {
      this.snapshots.clear();
      this.snapshotsSeq = seq;
    }
    const key = `${scope ?? '*'}:${after ?? 'recent'}`;
    const kept = this.snapshots.get(key);
    if (kept) return kept;
    const { events, truncated } = after === null ? this.recent(scope) : this.replay(after, scope);
    const agents = state.listAgents().filter((a) => scope === undefined || a.id === scope);
    const frame = snapshotFrame({ seq, agents, events, truncated });
    if (this.snapshots.size < SNAPSHOTS_KEPT) this.snapshots.set(key, frame);
    return frame;
  }

  /** The last SNAPSHOT_EVENTS events, the oldest of them left out past SNAPSHOT_BYTES. */
  private recent(scope: string | undefined): Replay {
    const events: string[] = [];
    let bytes = 0;
    for (const e of this.deps.state.lastEvents(SNAPSHOT_EVENTS, scope).reverse()) {
      const json = itemJson(e);
      bytes += Buffer.byteLength(json) + 1;
      if (bytes > SNAPSHOT_BYTES && events.length > 0) break;
      events.push(json);
    }
    return { events: events.reverse(), truncated: false };
  }

  /** Every event after `after`, up to MAX_REPLAY of them and SNAPSHOT_BYTES; `truncated` when more are left. */
  private replay(after: number, scope: string | undefined): Replay {
    const events: string[] = [];
    let bytes = 0;
    for (let cursor = after; ; ) {
      const page = this.deps.state.eventsAfter(cursor, REPLAY_PAGE, scope);
      for (const e of page) {
        const json = itemJson(e);
        bytes += Buffer.byteLength(json) + 1;
        // At least one event per snapshot, so a client resuming from it always gets further.
        if (events.length === MAX_REPLAY || (bytes > SNAPSHOT_BYTES && events.length > 0)) return { events, truncated: true };
        events.push(json);
      }
      if (page.length < REPLAY_PAGE) return { events, truncated: false };
      cursor = page.at(-1)!.seq;
    }
  }

  /** A client is gone: stop sending to it and give its slot back (once); false if it was gone already. */
  private forget(c: Client): boolean {
    if (!this.clients.delete(c)) return false;
    const left = (this.perToken.get(c.token) ?? 1) - 1;
    if (left > 0) this.perToken.set(c.token, left);
    else this.perToken.delete(c.token);
    return true;
  }

  /** Close a client we no longer serve; one that does not take the close is dropped after a grace. */
  private cutOff(c: Client, code: number, reason: string): void {
    if (!this.forget(c)) return;
    // A close reason is at most 123 bytes.
    c.ws.close(code, Buffer.from(reason).subarray(0, 120).toString());
    setTimeout(() => c.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  private enqueue(ev: IronEvent): void {
    if (this.clients.size === 0) return;
    this.pending.push(ev);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    let all: Buffer[] | null = null;
    const byAgent = new Map<string, Buffer[]>();
    const frames = (events: IronEvent[]): Buffer[] => {
      if (events.length === 0) return [];
      return liveFrames(
        events.map((event) => {
          const agent = event.agentId && carriesStatus(event.type) ? this.deps.state.getAgent(event.agentId) : null;
          return itemJson(agent ? ({ event, agent } satisfies FeedItem) : { event });
        }),
      );
    };
    for (const c of this.clients) {
      if (c.ws.readyState !== c.ws.OPEN) continue;
      let out: Buffer[];
      if (c.principal.role !== 'agent') out = all ??= frames(batch);
      else {
        const id = c.principal.agentId!;
        out = byAgent.get(id) ?? frames(batch.filter((e) => e.agentId === id));
        byAgent.set(id, out);
      }
      for (const frame of out) {
        if (c.ws.bufferedAmount + frame.length > WS_SEND_BUFFER_BYTES) {
          this.cutOff(c, WS_TRY_LATER, 'too far behind: reconnect with ?after=<last seq>');
          break;
        }
        c.ws.send(frame, { binary: false });
      }
    }
  }

  private ping(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        c.ws.terminate();
        this.forget(c);
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  close(): void {
    this.flush();
    this.unsubscribe();
    this.unhearInvalidate();
    clearInterval(this.heartbeat);
    clearInterval(this.recheckTimer);
    for (const c of this.clients) c.ws.close(1001, 'iron-cage is shutting down');
    this.clients.clear();
    this.perToken.clear();
    this.wss.close();
  }
}
