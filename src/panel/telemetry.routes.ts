import type { Hono } from 'hono';
import { IronCageError, PayloadTooLargeError } from '../core/errors.js';
import { assertRuntime } from '../core/roles.js';
import { parseJsonBody, parseWith, type AppEnv } from '../server/index.js';
import { ingestBatch, TELEMETRY_MAX_BYTES, telemetryBatch, withoutNul, type Ingested, type PanelDb, type RuntimesStore } from '../state/index.js';
import type { Outage } from './outage.js';

/** The paths a runtime token may call (the server refuses it everywhere else). */
export const TELEMETRY_PATHS = ['/api/telemetry'] as const;

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
      try {
        const text = await c.req.text();
        if (Buffer.byteLength(text) > TELEMETRY_MAX_BYTES) throw new PayloadTooLargeError(TELEMETRY_MAX_BYTES);
        const batch = parseWith(telemetryBatch, parseJsonBody(withoutNul(text)));
        assertRuntime(p, batch.runtime);
        landed = await d.outage.run(() => ingestBatch(d.db, batch));
      } catch (err) {
        d.onBatch?.(p.runtimeId!, err instanceof IronCageError && err.status < 500 ? 'refused' : 'failed', err);
        throw err;
      }
      d.onBatch?.(p.runtimeId!, landed.ack.duplicate ? 'duplicate' : 'stored');
      if (!landed.ack.duplicate) d.onIngested(landed);
      return c.json(landed.ack);
    });
  };
}
