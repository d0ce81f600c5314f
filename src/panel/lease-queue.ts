import type { LeaseCall, LeaseOutcome } from '../state/index.js';

// The lease calls of one panel process, decided in batches: a call that arrives while a batch is in
// PostgreSQL waits here, holding no connection, and goes with the others that arrived meanwhile as
// the next batch (LeasesStore.leaseMany: the budgets locked once, committed once). At the pace of one
// call, a call runs at once, alone; under a fleet, each budget's lock is taken once per batch rather
// than once per call, and a replica's waiting calls no longer hold pooled connections that its
// batches of telemetry need. Replicas each send their own batches: the lock is taken in turn by a
// few transactions, never queued for by hundreds.

/** The most calls one batch decides (the rest go with the next). */
export const LEASE_BATCH_MAX = 200;

interface Waiting {
  call: LeaseCall;
  resolve: (o: LeaseOutcome) => void;
  reject: (e: unknown) => void;
}

/**
 * One batch at a time in the database; calls queue behind it. A runtime's second call waits for
 * the batch after its first (a batch names each runtime once), so its calls keep their order.
 *
 * @example
 *   const queue = new LeaseQueue((calls) => leases.leaseMany(calls, Date.now()));
 *   const { answer } = await queue.submit({ runtimeId: 'rt-1', asks, order });
 */
export class LeaseQueue {
  private waiting: Waiting[] = [];
  private running = false;

  constructor(
    private readonly decide: (calls: LeaseCall[]) => Promise<Array<LeaseOutcome | Error>>,
    private readonly max = LEASE_BATCH_MAX,
  ) {}

  /** The call's outcome (its refusal, a rejection), decided with the calls that wait beside it. */
  submit(call: LeaseCall): Promise<LeaseOutcome> {
    return new Promise<LeaseOutcome>((resolve, reject) => {
      this.waiting.push({ call, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.waiting.length > 0) {
      const batch: Waiting[] = [];
      const rest: Waiting[] = [];
      const named = new Set<string>();
      for (const w of this.waiting) {
        if (batch.length < this.max && !named.has(w.call.runtimeId)) {
          batch.push(w);
          named.add(w.call.runtimeId);
        } else rest.push(w);
      }
      this.waiting = rest;
      try {
        const out = await this.decide(batch.map((w) => w.call));
        for (const [i, o] of out.entries()) {
          if (o instanceof Error) batch[i]!.reject(o);
          else batch[i]!.resolve(o);
        }
      } catch (e) {
        // The batch's transaction failed (the database away, a bug): every call of it hears so.
        for (const w of batch) w.reject(e);
      }
    }
    this.running = false;
  }
}
