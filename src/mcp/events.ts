// What an agent's MCP session sent on its SSE streams, kept so a client that lost a stream can
// resume it (`Last-Event-ID`): the session's last messages as the JSON they were sent as, at most
// `max` of them and `maxBytes` in all (a result can be megabytes), in memory, gone with the
// session. An event id is `<stream>_<n>`, numbered across the session, so replay is a scan from
// there. A stream's opening (priming) event is kept as an id with no message.

interface Kept {
  id: string;
  stream: string;
  n: number;
  json: string | null;
}

export class SessionEvents {
  private readonly kept: Kept[] = [];
  private n = 0;
  private bytes = 0;

  constructor(
    private readonly max = 256,
    private readonly maxBytes = 4 * 1024 * 1024,
  ) {}

  /** Keep a message sent on `stream` (null: its priming event); its event id. */
  store(stream: string, json: string | null): string {
    const n = ++this.n;
    const id = `${stream}_${n}`;
    // A message larger than the whole allowance is not kept at all: its stream cannot be resumed past it.
    const bytes = json === null ? 64 : json.length;
    if (bytes > this.maxBytes) return id;
    this.kept.push({ id, stream, n, json });
    this.bytes += bytes;
    while (this.kept.length > this.max || this.bytes > this.maxBytes) {
      const gone = this.kept.shift()!;
      this.bytes -= gone.json === null ? 64 : gone.json.length;
    }
    return id;
  }

  /** The stream an event id was sent on, if it is still kept. */
  streamOf(id: string): string | undefined {
    return this.kept.find((e) => e.id === id)?.stream;
  }

  /** Each message sent on `last`'s stream after it, in order. */
  after(last: string, send: (id: string, json: string) => void): void {
    const from = this.kept.find((e) => e.id === last);
    if (!from) return;
    for (const e of this.kept) if (e.n > from.n && e.stream === from.stream && e.json !== null) send(e.id, e.json);
  }
}
