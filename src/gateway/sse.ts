/**
 * Incremental Server-Sent Events splitter. Upstream bytes arrive in arbitrary pieces; we hand
 * on whole events (`event:`/`data:` blocks ending in a blank line) as soon as each completes,
 * keeping the raw text so untouched events are forwarded byte for byte.
 */
export interface SseEvent {
  raw: string;
  event: string | null;
  data: string;
}

export class SseSplitter {
  private buf = '';
  private readonly decoder = new TextDecoder();

  push(chunk: Buffer): SseEvent[] {
    this.buf += this.decoder.decode(chunk, { stream: true });
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r?\n\r?\n/.exec(this.buf);
      if (!m) break;
      const raw = this.buf.slice(0, m.index + m[0].length);
      this.buf = this.buf.slice(m.index + m[0].length);
      out.push(parse(raw));
    }
    return out;
  }

  /** Whatever is left when the upstream ends without a final blank line. */
  end(): SseEvent[] {
    const rest = this.buf + this.decoder.decode();
    this.buf = '';
    return rest.trim() === '' ? [] : [parse(`${rest}\n\n`)];
  }
}

function parse(raw: string): SseEvent {
  let event: string | null = null;
  const data: string[] = [];
  for (const line of raw.split(/\r?\n/)) {
    if (line.startsWith('data:')) data.push(line.slice(line.charCodeAt(5) === 32 ? 6 : 5));
    else if (line.startsWith('event:')) event = line.slice(6).trim();
  }
  return { raw, event, data: data.join('\n') };
}

export function formatSse(data: string, event: string | null = null): string {
  return `${event ? `event: ${event}\n` : ''}data: ${data}\n\n`;
}
