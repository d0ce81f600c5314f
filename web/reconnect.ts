// The dashboard's one reconnecting WebSocket, for both feeds (the runtime's, feed.ts, and the
// control panel's, fleet-feed.ts): on a drop it says so, backs off and connects again, until the
// server revokes the token or the page stops it. Its jitter is the product's backoff
// (`backoffDelayMs`, src/domain/reliability/retry.ts), so a fleet of tabs does not come back in
// lockstep after a restart.
import { backoffDelayMs } from '../src/domain/reliability/retry.js';
import { set } from './store.js';

/** The server's close code for "your credentials are no longer good". */
export const WS_REVOKED = 4401;

export interface SocketPlan {
  /** The path to open now, token and resume point included (they may have moved); null: nothing to open (no token). */
  path(): string | null;
  /** One frame, parsed; `sock` is the socket it came on (a replay that was cut may close it to ask again). */
  frame(data: unknown, sock: WebSocket): void;
  /** It opened. */
  opened?(): void;
  /** The server revoked the token: no reconnecting. */
  revoked(reason: string): void;
  /** It closed without ever opening: a refused upgrade looks like any drop, so the token is checked (a 401 shows the page's explanation). */
  neverOpened(): void;
  /** Reconnect at once rather than after a backoff (a truncated replay asks for the rest). */
  now?(): boolean;
}

export class ReconnectingSocket {
  private ws: WebSocket | null = null;
  private attempts = 0;
  private stopped = false;

  constructor(private readonly plan: SocketPlan) {}

  /** Whether a socket is open or opening. */
  get active(): boolean {
    return this.ws !== null;
  }

  connect(): void {
    this.stopped = false;
    const path = this.plan.path();
    if (path === null) return;
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const sock = new WebSocket(`${proto}://${location.host}${path}`);
    this.ws = sock;
    let opened = false;
    sock.onopen = () => {
      opened = true;
      this.plan.opened?.();
    };
    sock.onmessage = (m) => {
      try {
        this.plan.frame(JSON.parse(String(m.data)), sock);
      } catch (e) {
        console.warn('bad frame from /ws:', e instanceof Error ? e.message : e);
      }
    };
    sock.onclose = (e) => {
      if (this.ws !== sock || this.stopped) return;
      this.ws = null;
      if (e.code === WS_REVOKED) return this.plan.revoked(e.reason || 'your token is no longer valid');
      if (this.plan.now?.()) return this.connect();
      set({ conn: 'reconnecting' });
      if (!opened) this.plan.neverOpened();
      // 0.5 s doubling to 10 s, "equal jitter": half of it fixed (a drop is seen, a server just
      // gone is not asked again at once), the other half the product's full-jitter backoff.
      const n = ++this.attempts;
      const delay = Math.min(10_000, 500 * 2 ** (n - 1)) / 2 + backoffDelayMs(n, 250, 5_000, Math.random);
      setTimeout(() => {
        if (!this.stopped && this.ws === null) this.connect();
      }, delay);
    };
  }

  /** The feed is live again (its first frame came): the next drop backs off from the start. */
  live(): void {
    this.attempts = 0;
  }

  stop(): void {
    this.stopped = true;
    this.ws?.close();
    this.ws = null;
  }
}
