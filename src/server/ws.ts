import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Principal } from '../auth/index.js';
import { IronCageError, MissingTokenError, NotFoundError, UnauthorizedError } from '../core/errors.js';
import type { IronEvent } from '../core/events.js';
import type { ServerDeps } from './context.js';
import { upgradeRefusal } from './errors.js';

const SNAPSHOT_EVENTS = 200;
const MAX_REPLAY = 10_000;
/** A client this far behind is cut off; it reconnects with ?after= and loses nothing. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const HEARTBEAT_MS = 30_000;
/**
 * How often every client's token is checked again, so a token revoked or a user removed in
 * another process (the CLI) closes its sockets within this plus the verification cache's life.
 * A revocation in this process re-checks at once.
 */
const RECHECK_MS = 2_000;
/** Close code for "your credentials are no longer good" (4000-4999: the application's own). */
export const WS_REVOKED = 4401;

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

/**
 * WebSocket fan-out of the event bus. On connect a client gets a snapshot (agents plus recent
 * events, or everything after its `after`), then every event. Events are batched per tick:
 * one frame per burst per client instead of one per event.
 */
export class WsHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly clients = new Set<Client>();
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
    Promise.resolve(principal).then(
      (p) => this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, p, token, after)),
      reject,
    );
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
            if (!(e instanceof UnauthorizedError) || !this.clients.delete(c)) return;
            c.ws.close(WS_REVOKED, e.message.slice(0, 120));
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
    const client: Client = { ws, principal, token, alive: true };
    const { state } = this.deps;
    const scope = principal.role === 'agent' ? principal.agentId! : undefined;
    // Everything below is synchronous: no event can slip between the replay and the live feed.
    this.flush();
    // One more than the replay holds tells "exactly the limit" apart from "more were left out".
    const events = after === null ? state.lastEvents(SNAPSHOT_EVENTS, scope) : state.eventsAfter(after, MAX_REPLAY + 1, scope);
    const truncated = events.length > MAX_REPLAY;
    if (truncated) events.length = MAX_REPLAY;
    const agents = state.listAgents().filter((a) => scope === undefined || a.id === scope);
    ws.send(
      JSON.stringify({
        type: 'snapshot',
        seq: state.lastSeq(),
        agents,
        events,
        truncated,
      }),
    );
    this.clients.add(client);
    ws.on('pong', () => (client.alive = true));
    ws.on('close', () => this.clients.delete(client));
    ws.on('error', () => this.clients.delete(client));
    ws.on('message', () => {
      /* the feed is one-way; clients talk REST */
    });
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
    let all: string | null = null;
    const byAgent = new Map<string, string>();
    const frame = (events: IronEvent[]) => {
      const withAgents = events.map((event) => {
        const agent = event.agentId && carriesStatus(event.type) ? this.deps.state.getAgent(event.agentId) : null;
        return agent ? { event, agent } : { event };
      });
      return withAgents.length === 1 ? JSON.stringify({ type: 'event', ...withAgents[0] }) : JSON.stringify({ type: 'events', items: withAgents });
    };
    for (const c of this.clients) {
      if (c.ws.readyState !== c.ws.OPEN) continue;
      if (c.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        c.ws.close(1013, 'too far behind: reconnect with ?after=<last seq>');
        this.clients.delete(c);
        continue;
      }
      let msg: string | undefined;
      if (c.principal.role !== 'agent') msg = all ??= frame(batch);
      else {
        const id = c.principal.agentId!;
        msg = byAgent.get(id);
        if (msg === undefined) {
          const mine = batch.filter((e) => e.agentId === id);
          msg = mine.length > 0 ? frame(mine) : '';
          byAgent.set(id, msg);
        }
      }
      if (msg) c.ws.send(msg);
    }
  }

  private ping(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        c.ws.terminate();
        this.clients.delete(c);
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
    this.wss.close();
  }
}
