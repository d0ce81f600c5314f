import type { Principal } from '../core/roles.js';
import type { FeedSource } from '../server/index.js';
import { fleetEvent, type FleetEvent, type Ingested } from '../state/index.js';

// The panel's `/ws`: what landed, pushed to the people watching (admins and viewers; agent and
// runtime tokens never reach it on a panel). No snapshot beyond a hello: the page reads the
// fleet over REST and keeps it current from these frames.

/** What happened to a central budget: an admin's change, a lease reclaimed, a threshold crossed (each said once). */
/** `leased`: a runtime's lease call changed what it holds or waits for (at most one such frame a second per budget). */
export type PanelBudgetChange = 'created' | 'updated' | 'deleted' | 'reclaimed' | 'warning' | 'exhausted' | 'leased';

/** A central budget changed (the page refetches GET /api/budgets). */
export interface PanelBudgetFrame {
  kind: 'budget';
  change: PanelBudgetChange;
  budget: string;
  /** One line saying what happened, as the panel's log says it. */
  message: string;
  /** The window it happened in (reclaimed, warning, exhausted). */
  window?: number;
  /** The runtime whose lease was reclaimed. */
  runtime?: string;
}

/** A panel user decided a runtime's approval (the page refetches GET /api/approvals; the runtime applies it at its next poll). */
export interface PanelApprovalFrame {
  kind: 'approval';
  runtime: string;
  id: string;
  decision: 'approve' | 'deny';
  /** `panel admin bob`. */
  by: string;
  /** One line saying what happened, as the panel's log says it. */
  message: string;
}

/** What the feed carries: a landed batch, a budget's change, or a panel decision on an approval. */
export type PanelFeedItem = Ingested | PanelBudgetFrame | PanelApprovalFrame;

const isFrame = (i: PanelFeedItem): i is PanelBudgetFrame | PanelApprovalFrame => 'kind' in i;

/** A frame of the panel's WebSocket. */
export type PanelFrame =
  | PanelBudgetFrame
  | PanelApprovalFrame
  | { kind: 'hello'; mode: 'panel' }
  | { kind: 'batch'; runtime: string; seq: number; events: FleetEvent[]; stored: Ingested['ack']['stored'] }
  | { kind: 'runtime'; runtime: string; lastSeenAt: number | null; behind: number };

/**
 * Landed batches, budget changes and panel decisions as a FeedSource: `push` after each commit; a
 * batch becomes a `batch` frame and a `runtime` frame, a budget change a `budget` frame, a decision
 * an `approval` frame, encoded once for every viewer.
 */
export class PanelFeed implements FeedSource<PanelFeedItem> {
  private readonly listeners = new Set<(i: PanelFeedItem) => void>();

  push(i: PanelFeedItem): void {
    for (const fn of this.listeners) fn(i);
  }

  subscribe(fn: (i: PanelFeedItem) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  welcome(_p: Principal, _after: number | null): Buffer {
    return Buffer.from(JSON.stringify({ kind: 'hello', mode: 'panel' } satisfies PanelFrame));
  }

  audience(): string {
    return '*';
  }

  frames(batch: PanelFeedItem[]): Buffer[] {
    const out: Buffer[] = [];
    for (const i of batch) {
      if (isFrame(i)) {
        out.push(Buffer.from(JSON.stringify(i satisfies PanelFrame)));
        continue;
      }
      const events = i.events.map((e) => fleetEvent(e.runtime, e));
      out.push(Buffer.from(JSON.stringify({ kind: 'batch', runtime: i.ack.runtime, seq: i.ack.seq, events, stored: i.ack.stored } satisfies PanelFrame)));
      out.push(Buffer.from(JSON.stringify({ kind: 'runtime', runtime: i.runtime.id, lastSeenAt: i.runtime.lastSeenAt, behind: i.runtime.behind } satisfies PanelFrame)));
    }
    return out;
  }
}
