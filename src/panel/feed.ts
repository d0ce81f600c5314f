import type { Principal } from '../core/roles.js';
import type { FeedSource } from '../server/index.js';
import type { Ingested } from '../state/index.js';

// The panel's `/ws`: what landed, pushed to the people watching (admins and viewers; agent and
// runtime tokens never reach it on a panel). No snapshot beyond a hello: the page reads the
// fleet over REST and keeps it current from these frames.

/** One event of a landed batch as the page gets it. */
export interface PanelFeedEvent {
  runtime: string;
  seq: number;
  ts: string;
  agentId: string | null;
  type: string;
  severity: string;
  message: string;
  /** The event's data, parsed (it travels as JSON text). */
  data: unknown;
}

/** A frame of the panel's WebSocket. */
export type PanelFrame =
  | { kind: 'hello'; mode: 'panel' }
  | { kind: 'batch'; runtime: string; seq: number; events: PanelFeedEvent[]; stored: Ingested['ack']['stored'] }
  | { kind: 'runtime'; runtime: string; lastSeenAt: number | null; behind: number };

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

/**
 * Landed batches as a FeedSource: `push` after each commit; each becomes a `batch` frame and a
 * `runtime` frame, encoded once for every viewer.
 */
export class PanelFeed implements FeedSource<Ingested> {
  private readonly listeners = new Set<(i: Ingested) => void>();

  push(i: Ingested): void {
    for (const fn of this.listeners) fn(i);
  }

  subscribe(fn: (i: Ingested) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  welcome(_p: Principal, _after: number | null): Buffer {
    return Buffer.from(JSON.stringify({ kind: 'hello', mode: 'panel' } satisfies PanelFrame));
  }

  audience(): string {
    return '*';
  }

  frames(batch: Ingested[]): Buffer[] {
    const out: Buffer[] = [];
    for (const i of batch) {
      const events = i.events.map(
        (e): PanelFeedEvent => ({ runtime: e.runtime, seq: e.seq, ts: e.ts, agentId: e.agentId, type: e.type, severity: e.severity, message: e.message, data: parse(e.data) }),
      );
      out.push(Buffer.from(JSON.stringify({ kind: 'batch', runtime: i.ack.runtime, seq: i.ack.seq, events, stored: i.ack.stored } satisfies PanelFrame)));
      out.push(Buffer.from(JSON.stringify({ kind: 'runtime', runtime: i.runtime.id, lastSeenAt: i.runtime.lastSeenAt, behind: i.runtime.behind } satisfies PanelFrame)));
    }
    return out;
  }
}
