import type { ExportResult } from '@opentelemetry/core';
import type { BatchSpanProcessor, ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Otel } from './otel.js';

/** Why a span never reached the collector: the queue was full, the export failed, or shutdown's wait ran out. */
export type DropReason = 'queue_full' | 'export_failed' | 'shutdown';

export interface SpanStats {
  exported: number;
  dropped: Partial<Record<DropReason, number>>;
}

export interface QueueOptions {
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
}

/**
 * The SDK's BatchSpanProcessor, counted exactly: a span ended when the queue already holds
 * `maxQueueSize` is refused here (the processor would drop it silently) and counted
 * `queue_full`; each batch the exporter reports delivered is `exported`, each it reports failed
 * (the collector down or refusing, a timeout, too many exports in flight) `export_failed`. The
 * queue's length is what went in less what left for the exporter, the processor's own count.
 * Ending a span never waits: it is pushed onto an array, and the export happens on a timer.
 */
export class CountedBatchProcessor implements SpanProcessor {
  private readonly batch: BatchSpanProcessor;
  private readonly counts: { exported: number; dropped: Record<DropReason, number> } = { exported: 0, dropped: { queue_full: 0, export_failed: 0, shutdown: 0 } };
  /** Spans in the processor's buffer, and spans handed to the exporter whose result is not in yet. */
  private queued = 0;
  private inFlight = 0;
  /** Past shutdown's wait: results still to come no longer count (what was left is `shutdown`). */
  private closed = false;

  private readonly sampled: number;

  constructor(
    otel: Otel,
    exporter: SpanExporter,
    private readonly o: QueueOptions,
  ) {
    this.sampled = otel.api.TraceFlags.SAMPLED;
    const success = otel.core.ExportResultCode.SUCCESS;
    const counted: SpanExporter = {
      export: (spans, done) => {
        const n = spans.length;
        this.queued -= n;
        this.inFlight += n;
        let settled = false;
        exporter.export(spans, (r: ExportResult) => {
          if (settled) return;
          settled = true;
          if (!this.closed) {
            this.inFlight -= n;
            if (r.code === success) this.counts.exported += n;
            else this.counts.dropped.export_failed += n;
          }
          done(r);
        });
      },
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    };
    this.batch = new otel.sdk.BatchSpanProcessor({ ...o, exporter: counted });
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & this.sampled) === 0) return;
    if (this.closed) return void this.counts.dropped.shutdown++;
    if (this.queued >= this.o.maxQueueSize) return void this.counts.dropped.queue_full++;
    this.queued++;
    this.batch.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.batch.forceFlush();
  }

  /** Flush and stop, waiting at most `waitMs`: what is still queued or in flight then is dropped as `shutdown`. */
  async shutdown(waitMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
      timer.unref();
    });
    await Promise.race([this.batch.shutdown().catch(() => undefined), gaveUp]);
    clearTimeout(timer);
    if (this.closed) return;
    this.closed = true;
    this.counts.dropped.shutdown += this.queued + this.inFlight;
    this.queued = this.inFlight = 0;
  }

  stats(): SpanStats {
    const dropped: SpanStats['dropped'] = {};
    for (const [k, v] of Object.entries(this.counts.dropped) as Array<[DropReason, number]>) if (v > 0) dropped[k] = v;
    return { exported: this.counts.exported, dropped };
  }
}
