import type { Principal } from '../core/roles.js';
import type { FeedSource } from '../server/index.js';
import { fleetEvent, type FleetEvent, type Ingested } from '../state/index.js';
import type { FeedEntry, PanelBus } from './bus.js';

// The panel's `/ws`: what landed, pushed to the people watching (admins and viewers; agent and
// runtime tokens never reach it on a panel), whichever replica it landed on (bus.ts). No snapshot
// beyond a hello: the page reads the fleet over REST and keeps it current from these frames; a
// page that reconnects (its replica stopped) resumes after the last frame it had.

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

/** A frame of the panel's WebSocket. Each carries `feed`, its place in the panel's feed (`?after=` resumes after it). */
export type PanelFrame =
  | PanelBudgetFrame
  | PanelApprovalFrame
  | { kind: 'hello'; mode: 'panel'; feed: number; replay?: unknown[] | null }
  | { kind: 'batch'; runtime: string; seq: number; events: FleetEvent[]; stored: Ingested['ack']['stored'] }
  | { kind: 'runtime'; runtime: string; lastSeenAt: number | null; behind: number };

/** An item as the frames its viewers get, each JSON text. */
function encode(i: PanelFeedItem): string[] {
  if (isFrame(i)) return [JSON.stringify(i satisfies PanelFrame)];
  const events = i.events.map((e) => fleetEvent(e.runtime, e));
  return [
    JSON.stringify({ kind: 'batch', runtime: i.ack.runtime, seq: i.ack.seq, events, stored: i.ack.stored } satisfies PanelFrame),
    JSON.stringify({ kind: 'runtime', runtime: i.runtime.id, lastSeenAt: i.runtime.lastSeenAt, behind: i.runtime.behind } satisfies PanelFrame),
  ];
}

/**
 * Landed batches, budget changes and panel decisions as a FeedSource: `push` after each commit; a
 * batch becomes a `batch` frame and a `runtime` frame, a budget change a `budget` frame, a decision
 * an `approval` frame, encoded once for every viewer. With a bus (a panel on PostgreSQL) the frames
 * go through it, so every replica's viewers hear them, numbered by the feed; without one (a test's
 * panel routes on their own) they go straight to this process's viewers.
 */
export class PanelFeed implements FeedSource<FeedEntry> {
  private readonly local = new Set<(e: FeedEntry) => void>();

  constructor(private readonly bus?: PanelBus) {}

  push(i: PanelFeedItem): void {
    const frames = encode(i);
    if (this.bus) return this.bus.publish(frames);
    const e: FeedEntry = { id: 0, frames: frames.map((f) => Buffer.from(f)) };
    for (const fn of this.local) fn(e);
  }

  subscribe(fn: (e: FeedEntry) => void): () => void {
    if (this.bus) return this.bus.subscribe(fn);
    this.local.add(fn);
    return () => this.local.delete(fn);
  }

  /** Hello, with what the viewer missed after `after` (its last frame's `feed`) where this replica still holds it (`replay: null`: refetch). */
  welcome(_p: Principal, after: number | null): Buffer {
    const replay = after === null || !this.bus ? undefined : this.bus.since(after);
    const head = JSON.stringify({ kind: 'hello', mode: 'panel', feed: this.bus?.newest() ?? 0 } satisfies PanelFrame);
    if (replay === undefined) return Buffer.from(head);
    if (replay === null) return Buffer.from(`${head.slice(0, -1)},"replay":null}`);
    return Buffer.concat([Buffer.from(`${head.slice(0, -1)},"replay":[`), ...replay.flatMap((f, n) => (n === 0 ? [f] : [COMMA, f])), Buffer.from(']}')]);
  }

  audience(): string {
    return '*';
  }

  frames(batch: FeedEntry[]): Buffer[] {
    return batch.flatMap((e) => e.frames);
  }
}

const COMMA = Buffer.from(',');
