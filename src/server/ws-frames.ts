import type { AnyEvent, IronEvent } from '../core/events.js';
import type { AgentView } from '../state/index.js';

// The WebSocket feed's frames, built as UTF-8 Buffers once per burst and shared by every client
// that gets the same bytes: `ws` writes a Buffer to each socket by reference, where a string
// would be encoded again per client (60 slow readers held 60 copies of every frame).

/**
 * No event goes out on the feed bigger than this as JSON; a bigger one (something on the bus
 * that no route bounded) goes out with its data left out (`{truncated: true, bytes}`) and is
 * read whole from `GET /api/events`.
 */
export const WS_EVENT_MAX_BYTES = 128 * 1024;
/** A burst is cut into frames of about this many bytes, so no one frame outgrows a client's send buffer. */
export const WS_FRAME_BYTES = 1024 * 1024;
const MESSAGE_KEPT = 2000;

export interface FeedItem {
  event: IronEvent;
  agent?: AgentView;
}

/** An event too big for the feed, as it goes out: its message shortened and its data left out. */
export type CutEvent = Omit<IronEvent, 'data'> & { data: { truncated: true; bytes: number } };

/** An event as a feed client reads it: whole (narrowed by `type`), or cut. */
export type FeedEvent = AnyEvent | CutEvent;

/**
 * The frames /ws sends, as a client parses them: written as JSON text by the functions below.
 * `agent`: the agent's status object after the event, sent with the events that change it.
 */
export type WsFrame =
  | { type: 'snapshot'; seq: number; agents: AgentView[]; events: FeedEvent[]; truncated: boolean }
  | { type: 'event'; event: FeedEvent; agent?: AgentView }
  | { type: 'events'; items: Array<{ event: FeedEvent; agent?: AgentView }> };

/** One item's JSON, with an oversized event's data left out. */
export function itemJson(item: FeedItem | IronEvent): string {
  const json = JSON.stringify(item);
  const bytes = Buffer.byteLength(json);
  if (bytes <= WS_EVENT_MAX_BYTES) return json;
  const cut = (e: IronEvent): CutEvent => ({ ...e, message: e.message.slice(0, MESSAGE_KEPT), data: { truncated: true, bytes } });
  return JSON.stringify('seq' in item ? cut(item) : { ...item, event: cut(item.event) });
}

/**
 * The live frames for a burst: `{"type":"event",…}` for one item, otherwise `{"type":"events",
 * "items":[…]}` of at most about WS_FRAME_BYTES each, in order.
 *
 * @example
 * liveFrames([itemJson({ event })]) // [Buffer '{"type":"event","event":{…}}']
 */
export function liveFrames(items: string[]): Buffer[] {
  if (items.length === 1) return [Buffer.from(`{"type":"event",${items[0]!.slice(1)}`)];
  const frames: Buffer[] = [];
  let group: string[] = [];
  let bytes = 0;
  const close = () => {
    if (group.length > 0) frames.push(Buffer.from(`{"type":"events","items":[${group.join(',')}]}`));
    group = [];
    bytes = 0;
  };
  for (const item of items) {
    const size = Buffer.byteLength(item);
    if (bytes + size > WS_FRAME_BYTES) close();
    group.push(item);
    bytes += size + 1;
  }
  close();
  return frames;
}

/**
 * The first frame: the agents, then events (already JSON) in order.
 *
 * @example
 * snapshotFrame({ seq: 7, agents: [], events: [], truncated: false })
 */
export function snapshotFrame(o: { seq: number; agents: AgentView[]; events: string[]; truncated: boolean }): Buffer {
  return Buffer.from(`{"type":"snapshot","seq":${o.seq},"agents":${JSON.stringify(o.agents)},"events":[${o.events.join(',')}],"truncated":${o.truncated}}`);
}
