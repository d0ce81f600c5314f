import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import * as z from 'zod';
import type { Principal, Role } from '../core/roles.js';
import { IronCageError, MissingTokenError, NotFoundError, UnauthorizedError, UnavailableError } from '../core/errors.js';
import { queryInt } from '../core/validation.js';
import type { Authenticator, FeedSource } from './context.js';
import { upgradeRefusal } from './errors.js';

/**
 * A client's send buffer (what `ws` and the socket hold for it, unsent) may not pass this: a
 * frame that would take it past is not queued and the client is closed with 1013 instead; it
 * reconnects with ?after= and loses nothing.
 */
export const WS_SEND_BUFFER_BYTES = 8 * 1024 * 1024;
/**
 * Open sockets one token may hold; past it a socket is closed with 4429. An agent needs one or
 * two; people open a tab per screen.
 */
export const WS_MAX_PER_TOKEN: Readonly<Record<Role, number>> = { agent: 8, viewer: 128, admin: 128, runtime: 0, metrics: 0 };
/** After a close we started, a client that does not answer is dropped, so its buffer is freed. */
const CLOSE_GRACE_MS = 5_000;
const HEARTBEAT_MS = 30_000;
/**
 * How often every client's token is checked again, so a token revoked or a user removed in
 * another process (the CLI) closes its sockets within this plus the verification cache's life.
 * A revocation in this process re-checks at once.
 */
const RECHECK_MS = 2_000;
/**
 * With more than `above` clients, live events are sent at most once every `ms` (one frame per
 * client per window, however many events came) instead of once per tick: at 500 events/s a
 * tick-per-event flush to 1,000 viewers is 500,000 socket writes a second; coalesced, it is
 * 1,000 × 50. A dashboard sees an event at most `ms` later. A few clients keep the per-tick
 * flush (no added delay). Mutable only so a benchmark can compare (`npm run bench -- dashboard`).
 */
export const WS_COALESCE = { above: 50, ms: 20 };
/** Close code for "your credentials are no longer good" (4000-4999: the application's own). */
export const WS_REVOKED = 4401;
/** Close code for "this token has too many sockets open". */
/** Why an upgrade is refused while the server stops (the page reconnects: through a load balancer, to another replica). */
const stopping = () => new UnavailableError('this server is stopping: connect again', 1);

export const WS_TOO_MANY = 4429;
/** `?after=`: the last sequence number a client has, 0 or more. */
const AFTER = queryInt(z.number().min(0));

/** Close code for "too far behind": try again later (with ?after=). */
export const WS_TRY_LATER = 1013;

interface Client {
  ws: WebSocket;
  principal: Principal;
  /** The token it connected with, re-verified every RECHECK_MS. */
  token: string;
  alive: boolean;
}

/** What the hub itself needs: the token check (the listener has checked the Host and the Origin). */
export interface HubDeps {
  tokens: Authenticator;
}

/**
 * WebSocket fan-out of a feed (the runtime's event bus, StateFeed; the panel's batches). On connect a client gets a snapshot (agents plus recent
 * events, or everything after its `after`), then every event. Events are batched per tick:
 * a burst is one frame (or a few of about 1 MB) per client instead of one per event, encoded
 * once and shared by every client that gets the same bytes.
 */
export class WsHub {
  /** Loaded with the first client that connects: a runtime nobody watches never holds the module. */
  private wss: Promise<WebSocketServer> | null = null;
  private readonly clients = new Set<Client>();
  /** Open sockets per token. */
  private readonly perToken = new Map<string, number>();
  private pending: unknown[] = [];
  private flushScheduled = false;
  /** The coalesced flush waiting, when many clients are connected (WS_COALESCE). */
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly unsubscribe: () => void;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly recheckTimer: NodeJS.Timeout;
  private readonly unhearInvalidate: () => void;
  private rechecking = false;
  private recheckAgain = false;
  /** Closed (the server stopping): an upgrade whose token check ends after this is refused, not accepted into a hub nobody will close again. */
  private closed = false;

  constructor(
    private readonly feed: FeedSource<unknown>,
    private readonly deps: HubDeps,
  ) {
    this.unsubscribe = feed.subscribe((item) => this.enqueue(item));
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
    if (this.closed) return reject(stopping());
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/ws') return reject(new NotFoundError(`no WebSocket endpoint at ${url.pathname}`));
    let principal: Principal | Promise<Principal>;
    try {
      principal = this.deps.tokens.authenticate(req.headers, url.searchParams.get('token'));
    } catch (e) {
      return reject(e instanceof MissingTokenError ? new MissingTokenError('a token is required: /ws?token=<token>') : e);
    }
    // in digits, as every list route reads its numbers: `1e3`, `0x10` or an empty `after=` are no
    // sequence number, whatever Number() makes of them
    const afterParam = url.searchParams.get('after');
    const parsedAfter = afterParam === null ? null : AFTER.safeParse(afterParam);
    const after = parsedAfter?.success ? parsedAfter.data : null;
    if (parsedAfter !== null && !parsedAfter.success) {
      if (principal instanceof Promise) principal.catch(() => {});
      return reject(new IronCageError('invalid_request', 400, 'after must be a whole number 0 or more'));
    }
    const token = this.deps.tokens.credential(req.headers, url.searchParams.get('token'))!;
    Promise.resolve(principal).then((p) => {
      if (this.closed) return reject(stopping());
      // A runtime token reports telemetry and reads nothing, this feed included.
      if (p.role === 'runtime') return reject(new IronCageError('forbidden', 403, 'a runtime token may only send telemetry and take budget leases (/api/telemetry, /api/leases)'));
      if (p.role === 'metrics') return reject(new IronCageError('forbidden', 403, 'a metrics token may only read GET /metrics'));
      return this.server().then((wss) => wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, p, token, after)));
    }, reject);
  }

  private server(): Promise<WebSocketServer> {
    this.wss ??= import('ws').then(({ WebSocketServer }) => new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 }));
    return this.wss;
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
    if (this.closed) return ws.close(1001, 'iron-cage is shutting down');
    const open = this.perToken.get(token) ?? 0;
    const cap = WS_MAX_PER_TOKEN[principal.role];
    if (open >= cap) return ws.close(WS_TOO_MANY, `too many WebSockets open for this token (at most ${cap})`);
    this.perToken.set(token, open + 1);
    const client: Client = { ws, principal, token, alive: true };
    // Everything below is synchronous: no event can slip between the replay and the live feed.
    this.flush();
    const snapshot = this.feed.welcome(principal, after);
    this.clients.add(client);
    ws.on('pong', () => (client.alive = true));
    ws.on('close', () => this.forget(client));
    ws.on('error', () => this.forget(client));
    ws.on('message', () => {
      /* the feed is one-way; clients talk REST */
    });
    ws.send(snapshot, { binary: false });
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

  private enqueue(item: unknown): void {
    if (this.clients.size === 0) return;
    this.pending.push(item);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    if (this.clients.size > WS_COALESCE.above) {
      // Many viewers: one frame each per window, not per tick.
      this.flushTimer = setTimeout(() => this.flush(), WS_COALESCE.ms);
      this.flushTimer.unref();
    } else setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const byAudience = new Map<string, Buffer[]>();
    for (const c of this.clients) {
      if (c.ws.readyState !== c.ws.OPEN) continue;
      const key = this.feed.audience(c.principal);
      let out = byAudience.get(key);
      if (!out) byAudience.set(key, (out = this.feed.frames(batch, key)));
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
    if (this.closed) return;
    this.closed = true;
    this.flush();
    this.unsubscribe();
    this.unhearInvalidate();
    clearInterval(this.heartbeat);
    clearInterval(this.recheckTimer);
    for (const c of this.clients) {
      c.ws.close(1001, 'iron-cage is shutting down');
      // A client that never answers the close would hold its socket (and a draining server's close) for ws's own 30 s.
      setTimeout(() => c.ws.terminate(), CLOSE_GRACE_MS).unref();
    }
    this.clients.clear();
    this.perToken.clear();
    void this.wss?.then((wss) => wss.close());
  }
}
