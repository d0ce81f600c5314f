import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/**
 * What an agent's MCP session sent on its SSE streams, kept so a client that lost a stream can
 * resume it (`Last-Event-ID`): the session's last messages, at most `max` of them and `maxBytes`
 * in all (a result can be megabytes), in memory, gone with the session. An event id is
 * `<stream>_<n>`, numbered across the session, so replay is a scan from there.
 */
export class SessionEvents implements EventStore {
  private readonly kept: Array<{ id: string; stream: string; n: number; bytes: number; message: JSONRPCMessage }> = [];
  private n = 0;
  private bytes = 0;

  constructor(
    private readonly max = 256,
    private readonly maxBytes = 4 * 1024 * 1024,
  ) {}

  async storeEvent(stream: string, message: JSONRPCMessage): Promise<string> {
    const n = ++this.n;
    const id = `${stream}_${n}`;
    // A message larger than the whole allowance is not kept at all: its stream cannot be resumed past it.
    const bytes = 'result' in message || 'params' in message ? JSON.stringify(message).length : 64;
    if (bytes > this.maxBytes) return id;
    this.kept.push({ id, stream, n, bytes, message });
    this.bytes += bytes;
    while (this.kept.length > this.max || this.bytes > this.maxBytes) this.bytes -= this.kept.shift()!.bytes;
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
