// Histograms and counters for the request path, exposed through prom-client's registry (which
// keeps the text format, HELP/TYPE and content types). prom-client's own `observe` validates and
// hashes the label object on every call (measured: ~2 µs each, four to five per LLM call);
// these take a key the caller already built from bounded values (~0.1 µs), and build the label
// object once per series.

type Labels = Record<string, string>;

/** What prom-client's Registry reads of a metric (`registerMetric`): its name, help, type and values. */
interface Exposed {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram' | 'counter';
  readonly aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: Array<{ metricName?: string; labels: Labels; value: number }> }>;
  reset(): void;
}

interface HistogramSeries {
  labels: Labels;
  /** Per bucket (not cumulative); the last is +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * A histogram with fixed bucket boundaries, one series per key.
 *
 * @example
 *   const h = new KeyedHistogram('x_seconds', 'help', [0.1, 1]);
 *   h.observe('chat', () => ({ op: 'chat' }), 0.5);
 */
export class KeyedHistogram implements Exposed {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly series = new Map<string, HistogramSeries>();
  private readonly les: string[];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {
    this.les = [...bounds.map(String), '+Inf'];
  }

  observe(key: string, labels: () => Labels, v: number): void {
    let s = this.series.get(key);
    if (!s) {
      s = { labels: labels(), counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]!) i++;
    s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  async get() {
    const values: Array<{ metricName: string; labels: Labels; value: number }> = [];
    for (const s of this.series.values()) {
      let acc = 0;
      for (let i = 0; i < this.les.length; i++) {
        acc += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: this.les[i]! }, value: acc });
      }
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}

/**
 * A counter, one series per key, kept in integers (`divisor`: how many units make one exposed,
 * e.g. 1e6 for micro-dollars exposed as dollars: the sum stays exact, only the export divides).
 */
export class KeyedCounter implements Exposed {
  readonly type = 'counter' as const;
  readonly aggregator = 'sum' as const;
  private readonly series = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly divisor = 1,
  ) {}

  inc(key: string, labels: () => Labels, by = 1): void {
    const s = this.series.get(key);
    if (s) s.value += by;
    else this.series.set(key, { labels: labels(), value: by });
  }

  async get() {
    const values = [...this.series.values()].map((s) => ({ labels: s.labels, value: this.divisor === 1 ? s.value : s.value / this.divisor }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}
