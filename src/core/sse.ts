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
  /** Its `id:` (where a stream can be resumed from) and `retry:` (how long to wait before that), where it has them. */
  id?: string;
  retry?: number;
}

/** An event ends at a blank line; with CRs about, the line ends may be `\r\n`. */
const BLANK_LINE = /\r?\n\r?\n/g;

export class SseSplitter {
  /**
   * The text of the event in progress, in the pieces (each ending with a line end) its reads
   * brought, joined once its blank line comes: only each new piece is searched for it, so an
   * event of many lines over many reads costs its length, not its length times its reads.
   */
  private parts: string[] = [];
  /**
   * The bytes after the last line end read so far, not yet text, in the pieces they came in
   * (copies: the upstream's buffers are not ours to hold). Only whole lines are decoded: a line
   * end is ASCII, never inside a character, so one Buffer toString per socket read replaces a
   * TextDecoder call per upstream piece (and its per-call set-up). Kept as pieces and joined once
   * its line ends: a line of megabytes (an image's base64) costs its length, not its length
   * times the reads it took.
   */
  private rest: Buffer[] = [];
  /** Nothing decoded yet: a byte order mark that opens the stream is no part of it (as TextDecoder drops it). */
  private first = true;

  /**
   * `clean`: what each whole event's raw text goes through before it is parsed (the provider's
   * credentials taken out). `holds`, if given, says whether a text may need it: a read's text
   * it clears is not cleaned event by event (an event that began in an earlier read still is).
   */
  constructor(
    private readonly clean?: (raw: string) => string,
    private readonly holds?: (text: string) => boolean,
  ) {}

  /**
   * Whether a CR was ever seen. Until then (every provider we know) events end at "\n\n",
   * found with indexOf rather than a regular expression: this runs for every upstream event.
   */
  private cr = false;

  push(chunk: Buffer): SseEvent[] {
    return this.pushAll([chunk]);
  }

  /** Several pieces at once (all one socket read delivered), decoded and split in one pass. */
  pushAll(chunks: readonly Buffer[]): SseEvent[] {
    // The last piece with a line end in it, and where.
    let last = chunks.length - 1;
    let nl = -1;
    for (; last >= 0 && nl === -1; last--) nl = chunks[last]!.lastIndexOf(10);
    if (nl === -1) {
      for (const c of chunks) this.rest.push(Buffer.from(c));
      return [];
    }
    last++;
    const cut = chunks[last]!;
    const lines = this.rest.length === 0 && last === 0 ? cut : Buffer.concat([...this.rest, ...chunks.slice(0, last), cut.subarray(0, nl + 1)]);
    this.rest = [];
    if (nl + 1 < cut.length) this.rest.push(Buffer.from(cut.subarray(nl + 1)));
    for (let i = last + 1; i < chunks.length; i++) this.rest.push(Buffer.from(chunks[i]!));
    return this.split(this.decode(lines, lines === cut ? nl + 1 : lines.length));
  }

  private decode(bytes: Buffer, end: number): string {
    const text = bytes.toString('utf8', 0, end);
    if (!this.first) return text;
    this.first = false;
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }

  /** Whatever is left when the upstream ends without a final blank line. */
  end(): SseEvent[] {
    const bytes = Buffer.concat(this.rest);
    const rest = this.whole(bytes.length === 0 ? '' : this.decode(bytes, bytes.length));
    this.rest = [];
    return rest.trim() === '' ? [] : [this.event(`${rest}\n\n`, true)];
  }

  /** `dirty`: the text it came in may hold what `clean` takes out. */
  private event(raw: string, dirty: boolean): SseEvent {
    return parse(this.clean && dirty ? this.clean(raw) : raw);
  }

  private split(text: string): SseEvent[] {
    if (!this.cr && text.includes('\r')) this.cr = true;
    // An event wholly in this text holds a credential only if the text does: one search a
    // read, not one an event. The first event may have begun in an earlier read: cleaned whole.
    const dirty = this.holds === undefined || this.holds(text);
    let spans = this.parts.length > 0;
    const out: SseEvent[] = [];
    const add = (raw: string) => {
      out.push(this.event(this.whole(raw), dirty || spans));
      spans = false;
    };
    let start = 0;
    // The event in progress ends with a line end (text is decoded up to one): a blank line may
    // end in the first characters of this text. Anywhere else it lies wholly inside the text.
    if (spans) {
      const c = text.charCodeAt(0);
      start = c === 10 ? 1 : c === 13 && text.charCodeAt(1) === 10 ? 2 : 0;
      if (start > 0) add(text.slice(0, start));
    }
    if (!this.cr) {
      for (let i = text.indexOf('\n\n', start); i !== -1; i = text.indexOf('\n\n', start)) {
        add(text.slice(start, i + 2));
        start = i + 2;
      }
    } else {
      BLANK_LINE.lastIndex = start;
      for (let m = BLANK_LINE.exec(text); m; m = BLANK_LINE.exec(text)) {
        const end = m.index + m[0].length;
        add(text.slice(start, end));
        start = BLANK_LINE.lastIndex = end;
      }
    }
    if (start < text.length) this.parts.push(start === 0 ? text : text.slice(start));
    return out;
  }

  /** An event's raw text: `last`, after the pieces of it that came in earlier reads. */
  private whole(last: string): string {
    if (this.parts.length === 0) return last;
    this.parts.push(last);
    const raw = this.parts.join('');
    this.parts = [];
    return raw;
  }
}

/** The `event:` name and the `data:` lines (joined by "\n") of one raw event, lines split on `\r?\n`. */
function parse(raw: string): SseEvent {
  let event: string | null = null;
  let data: string | null = null;
  let foreign = false;
  let id: string | undefined;
  let retry: number | undefined;
  for (let i = 0; i < raw.length; ) {
    let j = raw.indexOf('\n', i);
    if (j === -1) j = raw.length;
    const end = j > i && raw.charCodeAt(j - 1) === 13 ? j - 1 : j;
    if (raw.startsWith('data:', i)) {
      const v = raw.slice(i + (raw.charCodeAt(i + 5) === 32 ? 6 : 5), end);
      data = data === null ? v : `${data}\n${v}`;
    } else if (raw.startsWith('event:', i)) event = raw.slice(i + 6, end).trim();
    else if (raw.startsWith('id:', i)) id = raw.slice(i + (raw.charCodeAt(i + 3) === 32 ? 4 : 3), end);
    else if (raw.startsWith('retry:', i)) {
      const ms = Number(raw.slice(i + 6, end).trim());
      if (Number.isInteger(ms) && ms >= 0) retry = ms;
    } else if (end > i && !isField(raw, i)) foreign = true;
    i = j + 1;
  }
  const e: SseEvent = foreign ? { raw, event, data: data ?? '', foreign } : { raw, event, data: data ?? '' };
  // Rare in an LLM's stream (none of the providers sends them): the common event keeps its shape.
  if (id !== undefined) e.id = id;
  if (retry !== undefined) e.retry = retry;
  return e;
}

/** The other lines an event stream may hold: a comment, `id:`, `retry:` (a line that is neither is no SSE). */
function isField(raw: string, i: number): boolean {
  return raw.charCodeAt(i) === 58 /* : */ || raw.startsWith('id:', i) || raw.startsWith('retry:', i) || raw.startsWith('id\r', i) || raw.startsWith('id\n', i);
}

export function formatSse(data: string, event: string | null = null): string {
  return `${event ? `event: ${event}\n` : ''}data: ${data}\n\n`;
}
