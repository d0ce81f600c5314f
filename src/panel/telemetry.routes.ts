import type { Hono } from 'hono';
import { PayloadTooLargeError } from '../core/errors.js';
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
      const text = await c.req.text();
      if (Buffer.byteLength(text) > TELEMETRY_MAX_BYTES) throw new PayloadTooLargeError(TELEMETRY_MAX_BYTES);
      const batch = parseWith(telemetryBatch, parseJsonBody(withoutNul(text)));
      assertRuntime(p, batch.runtime);
      const landed = await d.outage.run(() => ingestBatch(d.db, batch));
      if (!landed.ack.duplicate) d.onIngested(landed);
      return c.json(landed.ack);
    });
  };
}
