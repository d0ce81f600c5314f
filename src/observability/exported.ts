import type { Attributes, AttributeValue } from '@opentelemetry/api';

// What may leave for ops tools. A span's name, attributes, events and trace state, and a metric's
// label values, carry strings the agent chose (a model name, a conversation or response id, a
// format, a header): every one passes this one guard before it is exported, the same test the
// gateway refuses a model name by (the PII detectors and allow-lists, whatever the policy). One
// that holds PII is replaced by a fixed marker; a number that does is dropped.

/** What an exported string that holds PII becomes, wherever it was (attribute, label, name, trace state). */
export const PII_MARKER = '[PII_REDACTED]';
/** Characters kept of one exported string that is not content (an id, a name, an error's words): the rest is cut. */
export const MAX_VALUE_CHARS = 256;
/**
 * Characters of a longer string read past its cut: PII the cut runs through ends within them (an
 * e-mail address is at most 254 characters, every other value shorter). What lies further is never
 * exported, and is not read: a 10 MB id costs what 512 characters do.
 */
const READ_PAST_CUT = 256;
/** Integers from here up have digits enough to be a phone, an SSN or a card: they are checked as their digits. */
const CHECKED_INTEGER = 1_000_000;
/** Verdicts remembered: the same few names (models, providers, operations) come on every call. */
const MEMO_ENTRIES = 4096;

/**
 * The guard every exported value an agent could have chosen goes through. `holdsPii` is PII
 * protection's own test (PiiProtection.typesIn); verdicts on short values are remembered.
 *
 * @example
 *   const guard = new ExportGuard((t) => pii.typesIn(t).length > 0);
 *   guard.text('gpt-4o-mini') // 'gpt-4o-mini'
 *   guard.text('conv_jane@example.com') // '[PII_REDACTED]'
 */
export class ExportGuard {
  private readonly memo = new Map<string, boolean>();

  constructor(private readonly holdsPii: (text: string) => boolean) {}

  /** Whether a value holds PII (by the detectors, whatever the policy). */
  holds(value: string): boolean {
    if (value.length > MAX_VALUE_CHARS) return this.holdsPii(value);
    let v = this.memo.get(value);
    if (v === undefined) {
      v = this.holdsPii(value);
      if (this.memo.size >= MEMO_ENTRIES) this.memo.clear();
      this.memo.set(value, v);
    }
    return v;
  }

  /**
   * The value as it may be exported: the marker when it holds PII, else itself, cut at `max`
   * characters. A longer one is judged by what is exported of it: its cut (a cut that made a value
   * out of what was none is the marker too) and PII running through the cut.
   */
  text(value: string, max = MAX_VALUE_CHARS): string {
    return this.exportedHolds(value, max) ? PII_MARKER : value.slice(0, max);
  }

  /** `op` alone, or `op detail` when the detail is there and what is shown of it holds no PII: a span's name. */
  name(op: string, detail: string | null | undefined): string {
    return detail && !this.exportedHolds(detail, MAX_VALUE_CHARS) ? `${op} ${detail.slice(0, MAX_VALUE_CHARS)}` : op;
  }

  /**
   * Span (or event) attributes as they may be exported, changed in place: every string, in an
   * array too, through `text`; an integer long enough to be a number that identifies someone is
   * dropped when it does. Content capture's attributes are not passed here: they are redacted
   * text, cut to their own bounds (tracing-content.ts).
   */
  attributes(a: Attributes): Attributes {
    for (const k of Object.keys(a)) {
      const v = this.value(a[k]);
      if (v === undefined) delete a[k];
      else a[k] = v;
    }
    return a;
  }

  /**
   * A W3C `tracestate` header's members that hold no PII, joined as the header writes them (the
   * propagator then checks each member's syntax and the header's bounds); undefined when none is
   * left. A member is the agent's own string, exported with every span that joins its trace.
   */
  traceState(header: string | string[] | undefined): string | undefined {
    if (header === undefined) return undefined;
    const kept: string[] = [];
    for (const member of (Array.isArray(header) ? header.join(',') : header).split(',')) {
      const m = member.trim();
      if (m !== '' && !this.holds(m)) kept.push(m);
    }
    return kept.length > 0 ? kept.join(',') : undefined;
  }

  /**
   * Whether `value` cut at `max` may export PII: the value itself when it fits, else the cut, or a
   * value the cut runs through (read up to READ_PAST_CUT characters past it, no further).
   */
  private exportedHolds(value: string, max: number): boolean {
    if (value.length <= max) return this.holds(value);
    return this.holds(value.slice(0, max)) || this.holdsPii(value.slice(0, max + READ_PAST_CUT));
  }

  private value(v: AttributeValue | undefined): AttributeValue | undefined {
    if (typeof v === 'string') return this.text(v);
    if (typeof v === 'number') return this.number(v) ? v : undefined;
    if (Array.isArray(v)) {
      // A list of one type (the conventions' arrays): strings replaced, numbers holding PII left out.
      const out: Array<string | number | boolean | null | undefined> = [];
      for (const x of v as Array<string | number | boolean | null | undefined>) {
        if (typeof x === 'string') out.push(this.text(x));
        else if (typeof x !== 'number' || this.number(x)) out.push(x);
      }
      return out as AttributeValue;
    }
    return v;
  }

  /** Whether a number may be exported: any but an integer whose digits hold PII (a card, a phone as a `seed`). */
  private number(n: number): boolean {
    return !(Number.isInteger(n) && Math.abs(n) >= CHECKED_INTEGER && this.holds(String(Math.abs(n))));
  }
}
