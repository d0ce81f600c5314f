import type { IronEvent } from '../core/events.js';
import type { Principal } from '../core/roles.js';
import type { StateManager } from '../state/index.js';
import type { FeedSource } from './context.js';
import { WS_SEND_BUFFER_BYTES } from './ws.js';
import { itemJson, liveFrames, snapshotFrame, type FeedItem } from './ws-frames.js';

// The runtime's `/ws` feed: its event bus. On connect a snapshot (agents plus recent events, or
// everything after `after`), then every event; an agent token sees only its own agent.

const SNAPSHOT_EVENTS = 200;
const MAX_REPLAY = 10_000;
/** Events read from the database per page while a replay is built. */
const REPLAY_PAGE = 500;
/** A snapshot's events stop at this many bytes (a quarter of the send buffer: the live feed goes on behind it); `truncated` says so. */
const SNAPSHOT_BYTES = WS_SEND_BUFFER_BYTES / 4;
/** Snapshots built at the current seq, kept for the clients that ask for the same one. */
const SNAPSHOTS_KEPT = 16;

/**
 * Events after which a client wants the agent's fresh status object: lifecycle, progress and
 * budget changes. Not output lines or per-call records, which arrive by the thousand.
 */
function carriesStatus(type: string): boolean {
  return (type.startsWith('agent.') && type !== 'agent.output') || type.startsWith('budget.');
}

/** Events as the snapshot carries them, and whether some were left out. */
interface Replay {
  events: string[];
  truncated: boolean;
}

/**
 * The StateManager as a FeedSource for the WebSocket hub.
 *
 * @example
 *   new WsHub(new StateFeed(state), { tokens });
 */
export class StateFeed implements FeedSource<IronEvent> {
  /**
   * Snapshots by scope and `after`, valid while the seq has not moved (every change of an agent
   * is an event): a crowd reconnecting at once shares one buffer instead of building one each.
   */
  private readonly snapshots = new Map<string, Buffer>();
  private snapshotsSeq = -1;

  constructor(private readonly state: StateManager) {}

  subscribe(fn: (ev: IronEvent) => void): () => void {
    return this.state.subscribe(fn);
  }

  audience(p: Principal): string {
    return p.role === 'agent' ? `agent:${p.agentId}` : '*';
  }

  welcome(p: Principal, after: number | null): Buffer {
    return this.snapshot(p.role === 'agent' ? p.agentId! : undefined, after);
  }

  frames(batch: IronEvent[], audience: string): Buffer[] {
    const events = audience === '*' ? batch : batch.filter((e) => `agent:${e.agentId}` === audience);
    if (events.length === 0) return [];
    return liveFrames(
      events.map((event) => {
        const agent = event.agentId && carriesStatus(event.type) ? this.state.getAgent(event.agentId) : null;
        return itemJson(agent ? ({ event, agent } satisfies FeedItem) : { event });
      }),
    );
  }

  private snapshot(scope: string | undefined, after: number | null): Buffer {
    const { state } = this;
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
    for (const e of this.state.lastEvents(SNAPSHOT_EVENTS, scope).reverse()) {
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
      const page = this.state.eventsAfter(cursor, REPLAY_PAGE, scope);
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
}
