import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/**
 * What an agent's MCP session sent on its SSE streams, kept so a client that lost a stream can
 * resume it (`Last-Event-ID`): the last `max` messages of the session, in memory, gone with it.
 * An event id is `<stream>_<n>`, numbered across the session, so replay is a scan from there.
 */
export class SessionEvents implements EventStore {
  private readonly kept: Array<{ id: string; stream: string; n: number; message: JSONRPCMessage }> = [];
  private n = 0;

  constructor(private readonly max = 1000) {}

  async storeEvent(stream: string, message: JSONRPCMessage): Promise<string> {
    const n = ++this.n;
    const id = `${stream}_${n}`;
    this.kept.push({ id, stream, n, message });
    if (this.kept.length > this.max) this.kept.shift();
    return id;
  }

  async getStreamIdForEventId(id: string): Promise<string | undefined> {
    return this.kept.find((e) => e.id === id)?.stream;
  }

  async replayEventsAfter(lastEventId: string, { send }: { send: (id: string, message: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const last = this.kept.find((e) => e.id === lastEventId);
    if (!last) return '';
    for (const e of this.kept) if (e.n > last.n && e.stream === last.stream) await send(e.id, e.message);
    return last.stream;
  }
}
