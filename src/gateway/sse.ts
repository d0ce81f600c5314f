/**
 * Incremental Server-Sent Events splitter. Upstream bytes arrive in arbitrary pieces; we hand
 * on whole events (`event:`/`data:` blocks ending in a blank line) as soon as each completes,
 * keeping the raw text so untouched events are forwarded byte for byte.
 */
export interface SseEvent {
  raw: string;
  event: string | null;
  data: string;
  /** A line that is no SSE field (a JSON body, plain text where events were expected): the event must be read as text, never passed unread. */
  foreign?: true;
}

/** An event ends at a blank line; with CRs about, the line ends may be `\r\n`. */
const BLANK_LINE = /\r?\n\r?\n/g;

export class SseSplitter {
  private buf = '';

  /** `clean`: what each whole event's raw text goes through before it is parsed (the provider's credentials taken out). */
  constructor(private readonly clean?: (raw: string) => string) {}
  private readonly decoder = new TextDecoder();
  /**
   * Whether a CR was ever seen. Until then (every provider we know) events end at "\n\n",
   * found with indexOf rather than a regular expression: this runs for every upstream event.
   */
  private cr = false;

  push(chunk: Buffer): SseEvent[] {
    return this.split(this.decoder.decode(chunk, { stream: true }));
  }

  /** Several pieces at once (all one socket read delivered), split in one pass. */
  pushAll(chunks: readonly Buffer[]): SseEvent[] {
    let text = '';
    for (const c of chunks) text += this.decoder.decode(c, { stream: true });
    return this.split(text);
  }

  /** Whatever is left when the upstream ends without a final blank line. */
  end(): SseEvent[] {
    const rest = this.buf + this.decoder.decode();
    this.buf = '';
    return rest.trim() === '' ? [] : [this.event(`${rest}\n\n`)];
  }

  private event(raw: string): SseEvent {
    return parse(this.clean ? this.clean(raw) : raw);
  }

  private split(text: string): SseEvent[] {
    const buf = this.buf + text;
    if (!this.cr && text.includes('\r')) this.cr = true;
    const out: SseEvent[] = [];
    let start = 0;
    if (!this.cr) {
      for (let i = buf.indexOf('\n\n'); i !== -1; i = buf.indexOf('\n\n', start)) {
        out.push(this.event(buf.slice(start, i + 2)));
        start = i + 2;
      }
    } else {
      BLANK_LINE.lastIndex = 0;
      for (let m = BLANK_LINE.exec(buf); m; m = BLANK_LINE.exec(buf)) {
        const end = m.index + m[0].length;
        out.push(this.event(buf.slice(start, end)));
        start = BLANK_LINE.lastIndex = end;
      }
    }
    this.buf = start === 0 ? buf : buf.slice(start);
    return out;
  }
}

/** The `event:` name and the `data:` lines (joined by "\n") of one raw event, lines split on `\r?\n`. */
function parse(raw: string): SseEvent {
  let event: string | null = null;
  let data: string | null = null;
  let foreign = false;
  for (let i = 0; i < raw.length; ) {
    let j = raw.indexOf('\n', i);
    if (j === -1) j = raw.length;
    const end = j > i && raw.charCodeAt(j - 1) === 13 ? j - 1 : j;
    if (raw.startsWith('data:', i)) {
      const v = raw.slice(i + (raw.charCodeAt(i + 5) === 32 ? 6 : 5), end);
      data = data === null ? v : `${data}\n${v}`;
    } else if (raw.startsWith('event:', i)) event = raw.slice(i + 6, end).trim();
    else if (end > i && !isField(raw, i)) foreign = true;
    i = j + 1;
  }
  return foreign ? { raw, event, data: data ?? '', foreign } : { raw, event, data: data ?? '' };
}

/** The other lines an event stream may hold: a comment, `id:`, `retry:` (a line that is neither is no SSE). */
function isField(raw: string, i: number): boolean {
  return raw.charCodeAt(i) === 58 /* : */ || raw.startsWith('id:', i) || raw.startsWith('retry:', i) || raw.startsWith('id\r', i) || raw.startsWith('id\n', i);
}

export function formatSse(data: string, event: string | null = null): string {
  return `${event ? `event: ${event}\n` : ''}data: ${data}\n\n`;
}
