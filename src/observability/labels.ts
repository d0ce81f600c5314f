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

/** What `SeriesBudget.admit` decided for one combination of label values. */
export type Admitted = 'kept' | 'folded' | 'folded_all';

/**
 * Bounds the series label combinations make, per owner (a runtime on the panel) and in all: each
 * label's values are capped by LabelCap, their combinations here. A combination is charged its
 * series once (a histogram's buckets, sum and count each count); one that would pass the owner's
 * share or the whole is `folded`: every label but the owner's becomes `other`, one series per
 * family and owner; with no room left at all, `folded_all`: the owner's label too. What was
 * folded is counted per owner (`folded`).
 *
 * @example
 *   const budget = new SeriesBudget(5_000, 100_000);
 *   budget.admit('rt-1', 'llm', 'lead-gen|openai|gpt-4o|ok', 70) // 'kept', until rt-1 has used 5,000
 */
export class SeriesBudget {
  private readonly charged = new Set<string>();
  private readonly used = new Map<string, number>();
  private total = 0;
  /** Observations folded into `other`, per owner. */
  readonly folded = new Map<string, number>();

  constructor(
    readonly maxPerOwner: number,
    readonly max: number,
  ) {}

  /** Series charged so far, in all. */
  get size(): number {
    return this.total;
  }

  admit(owner: string, family: string, combination: string, cost: number, n = 1): Admitted {
    const key = `${owner}\u0000${family}\u0000${combination}`;
    if (this.charged.has(key)) return 'kept';
    const mine = this.used.get(owner) ?? 0;
    if (mine + cost <= this.maxPerOwner && this.total + cost <= this.max) {
      this.charged.add(key);
      this.used.set(owner, mine + cost);
      this.total += cost;
      return 'kept';
    }
    this.folded.set(owner, (this.folded.get(owner) ?? 0) + n);
    // The owner's one folded series of this family: charged to the whole once, while there is room.
    const fold = `${owner}\u0000${family}\u0000\u0001`;
    if (this.charged.has(fold)) return 'folded';
    if (this.total + cost <= this.max) {
      this.charged.add(fold);
      this.total += cost;
      return 'folded';
    }
    return 'folded_all';
  }
}
