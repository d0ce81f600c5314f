import type { Hono } from 'hono';
import { IronCageError, PayloadTooLargeError } from '../core/errors.js';
import { assertRuntime } from '../core/roles.js';
import { bodyText, parseJsonBody, parseWith, type AppEnv } from '../server/index.js';
import { ingestBatch, TELEMETRY_MAX_BYTES, telemetryBatch, withoutNul, type Ingested, type PanelDb, type RuntimesStore } from '../state/index.js';
import type { Outage } from './outage.js';

/** The paths a runtime token may call (the server refuses it everywhere else). */
export const TELEMETRY_PATHS = ['/api/telemetry'] as const;

/**
 * Back-pressure on the runtimes: past this many batches in flight (on average) the panel is busy
 * and asks each runtime it answers to wait before its next batch, a second per this many in
 * flight, at most PACE_MAX_MS. The rows wait on the runtimes' disks and come in fewer, larger
 * batches (a batch's cost hardly depends on its rows): the panel's latency stays low instead of
 * every runtime's batch queueing behind the others'.
 */
export const PACE_FROM = 8;
const PACE_MAX_MS = 5_000;

/** Batches in flight now, and their moving average (the pace follows the average, not a burst). */
export class Pace {
  private inFlight = 0;
  private load = 0;
  start(): void {
    this.inFlight++;
    this.load = this.load * 0.95 + this.inFlight * 0.05;
  }
  end(): void {
    this.inFlight--;
  }
  /** The pace to ask for now, or undefined while the panel keeps up. */
  get ms(): number | undefined {
    return this.load <= PACE_FROM ? undefined : Math.min(PACE_MAX_MS, Math.round((1_000 * this.load) / PACE_FROM));
  }
}

export interface TelemetryRoutesDeps {
  db: PanelDb;
  store: RuntimesStore;
  outage: Outage;
  /** After a batch committed: the WebSocket's viewers hear of it. */
  onIngested: (i: Ingested) => void;
  /** How each runtime's POST ended (after the commit for a stored batch): /metrics counts it. */
  onBatch?: (runtime: string, outcome: 'stored' | 'duplicate' | 'refused' | 'failed', err?: unknown) => void;
}

/**
 * GET /api/telemetry (where the panel stands for the calling runtime) and POST /api/telemetry (a
 * batch; the contract and its order rules: src/state/telemetry.ts). Runtime tokens only, each
 * for its own runtime id.
 */
export function telemetryRoutes(d: TelemetryRoutesDeps) {
  const pace = new Pace();
  return (app: Hono<AppEnv>) => {
    app.get('/api/telemetry', async (c) => {
      const p = c.get('principal');
      assertRuntime(p, p.runtimeId ?? '');
      return c.json(await d.outage.run(() => d.store.hello(p.runtimeId!)));
    });
    app.post('/api/telemetry', async (c) => {
      const p = c.get('principal');
      assertRuntime(p, p.runtimeId ?? '');
      let landed: Ingested;
      pace.start();
      try {
        const text = await bodyText(c.req);
        if (Buffer.byteLength(text) > TELEMETRY_MAX_BYTES) throw new PayloadTooLargeError(TELEMETRY_MAX_BYTES);
        const batch = parseWith(telemetryBatch, parseJsonBody(withoutNul(text)));
        assertRuntime(p, batch.runtime);
        landed = await d.outage.run(() => ingestBatch(d.db, batch));
      } catch (err) {
        d.onBatch?.(p.runtimeId!, err instanceof IronCageError && err.status < 500 ? 'refused' : 'failed', err);
        throw err;
      } finally {
        pace.end();
      }
      d.onBatch?.(p.runtimeId!, landed.ack.duplicate ? 'duplicate' : 'stored');
      if (!landed.ack.duplicate) d.onIngested(landed);
      const paceMs = pace.ms;
      return c.json(paceMs === undefined ? landed.ack : { ...landed.ack, paceMs });
    });
  };
}
