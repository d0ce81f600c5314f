import { formatSse, type SseEvent } from '../../core/sse.js';
import type { SlotRef, StreamContext, StreamInspection, Usage, Wire, WireStream } from './types.js';

/** An event the gateway writes: `json` as its data, under the event name `event`. */
export function eventOf(json: unknown, event: string | null): SseEvent {
  const data = JSON.stringify(json);
  return { raw: formatSse(data, event), event, data };
}

/** An event's data parsed, or null when it is not JSON (`[DONE]`, a provider's plain text). */
export function parsedEvent(ev: SseEvent): any {
  try {
    return JSON.parse(ev.data);
  } catch {
    return null;
  }
}

/** An event read without JSON.parse (a wire's commonest, quick.ts in its folder): what the wire's `inspect` would say, and the event rewritten. */
export interface QuickChunk {
  inspection: StreamInspection;
  /** The event's data with the text as `set` last left it. */
  data(): string;
}

/**
 * What every wire's stream does the same way: an event's JSON read in full and inspected by the
 * wire, written back whole when the relay changed its text and passed on as it came otherwise;
 * the last event that carried output kept as the template of an event the stream adds. Each
 * wire's stream (stream.ts in its folder) adds what is its own.
 */
export abstract class EventStream implements WireStream {
  json: any = null;
  /** The event read last, and what its wire found in it. */
  protected ev: SseEvent = { raw: '', event: null, data: '' };
  protected insp: StreamInspection = { slots: [], ends: [], last: false };
  /**
   * The last event with output in it: the shape of an event we may have to add. As it came when
   * it was read without JSON.parse (a string), parsed only if that event is needed.
   */
  private template: unknown = null;

  constructor(
    protected readonly wire: Wire,
    protected readonly ctx: StreamContext,
  ) {}

  read(ev: SseEvent, _rewritten: boolean): StreamInspection | string | null {
    if (!this.parse(ev)) return null;
    return (this.insp = this.wire.inspect(ev, this.json));
  }

  write(changed: boolean): string {
    this.keep(this.json);
    return changed ? formatSse(JSON.stringify(this.json), this.ev.event) : this.ev.raw;
  }

  usage(ev: SseEvent): Partial<Usage> | undefined {
    return this.parse(ev) && this.json !== null ? this.wire.inspect(ev, this.json).usage : undefined;
  }

  attach(end: StreamInspection['ends'][number], text: string, slot: SlotRef): string | null {
    return end.attach(text, 0, slot);
  }

  abstract flush(index: number, text: string, slot: SlotRef): string;

  mark(): void {}

  error(message: string): string {
    return formatSse(this.wire.error(400, 'blocked', message).body);
  }

  /** `ev` read: its JSON in `json` (null for `[DONE]` or no data); false when its data is not JSON. */
  protected parse(ev: SseEvent): boolean {
    this.ev = ev;
    this.json = null;
    if (!ev.data || ev.data === '[DONE]') return true;
    try {
      this.json = JSON.parse(ev.data);
      return true;
    } catch {
      return false;
    }
  }

  /** The event just written, kept as the template if output came in it (`data`: its text, read unparsed). */
  protected keep(json: any, data?: string): void {
    if (data !== undefined) this.template = data;
    else if (json && (this.insp.slots.length > 0 || (Array.isArray(json.choices) && json.choices.length > 0))) this.template = json;
  }

  /** The template, parsed now if it was kept unparsed. */
  protected templateJson(): any {
    if (typeof this.template === 'string') {
      try {
        this.template = JSON.parse(this.template);
      } catch {
        this.template = null;
      }
    }
    return this.template;
  }
}
