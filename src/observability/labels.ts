/** The label value every name past the cap is counted under. */
export const OTHER = 'other';

/**
 * Bounds a label's cardinality: the first `max` distinct values keep their name, every later
 * one is `other` (counted in `overflowed`). Names are cut at `maxLength` characters; an empty one is
 * `unnamed`. Nothing per request (an id, free text) ever becomes a label value; with a `shown`
 * guard (exported.ts), a name that holds PII is its marker, one value like any other.
 *
 * @example
 *   const agents = new LabelCap(100);
 *   agents.of('lead-qualifier') // 'lead-qualifier' (until 100 others came first: 'other')
 */
export class LabelCap {
  private readonly known = new Set<string>();
  overflowed = 0;

  constructor(
    readonly max: number,
    /** Longer names are cut (a model name may be a long ARN: kept whole up to this). */
    readonly maxLength = 64,
    /** What a name may be exported as (ExportGuard.text): read whole, before it is cut. */
    private readonly shown?: (name: string, max: number) => string,
  ) {}

  of(name: string | null | undefined): string {
    const trimmed = (name ?? '').trim();
    const v = (this.shown ? this.shown(trimmed, this.maxLength) : trimmed.slice(0, this.maxLength)) || 'unnamed';
    if (this.known.has(v)) return v;
    if (this.known.size < this.max) {
      this.known.add(v);
      return v;
    }
    this.overflowed++;
    return OTHER;
  }
}
