import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Pool } from 'pg';
import { schemaCurrent } from '../state/index.js';
import type { RawRoute } from '../server/index.js';
import type { Outage } from './outage.js';
import type { Replica } from './replica.js';

// The panel's probes for a load balancer and Kubernetes, in front of its replicas: GET /healthz says the process
// serves (liveness: restart it when this fails), GET /readyz that it should get requests
// (readiness: PostgreSQL answers, its schema holds every migration this build needs, and the
// replica is not draining). Neither needs a token nor says more than that; both answer fast.

/** How long the readiness probe waits for PostgreSQL before it says not ready. */
const DB_CHECK_MS = 2_000;
/** A current schema stays known this long (the migrations table is not read on every probe). */
const SCHEMA_KNOWN_MS = 30_000;
/**
 * A request that used the database this recently says it answers: a busy replica's probe does
 * not queue behind its own requests for a pooled connection (a balancer would take a replica out
 * for being busy, and then the next, and the next).
 */
const RECENT_MS = 2_000;

function answer(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) }).end(text);
}

export interface ProbeDeps {
  pool: Pool;
  outage: Outage;
  replica: Replica;
  version: string;
}

export function panelProbes(d: ProbeDeps): RawRoute[] {
  let schemaOkAt = 0;
  const notGet = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method === 'GET' || req.method === 'HEAD') return false;
    res.setHeader('allow', 'GET, HEAD');
    answer(res, 405, { status: 'error', error: `${req.method} is not a probe: GET it` });
    return true;
  };
  const ready = async (): Promise<{ ok: boolean; checks: Record<string, string> }> => {
    if (d.replica.draining) return { ok: false, checks: { replica: 'draining: stopping, taking nothing new' } };
    const checks: Record<string, string> = { replica: 'serving' };
    if (!d.outage.down && Date.now() - d.outage.okAt < RECENT_MS && Date.now() - schemaOkAt < SCHEMA_KNOWN_MS) return { ok: true, checks: { ...checks, database: 'ok', schema: 'current' } };
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        (async () => {
          await d.pool.query('select 1');
          if (Date.now() - schemaOkAt > SCHEMA_KNOWN_MS) {
            if (!(await schemaCurrent(d.pool))) throw new Error('its schema lacks migrations this build needs');
            schemaOkAt = Date.now();
          }
        })(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${DB_CHECK_MS / 1000} s`)), DB_CHECK_MS);
        }),
      ]);
      checks.database = 'ok';
      checks.schema = 'current';
      return { ok: true, checks };
    } catch (err) {
      checks.database = `PostgreSQL: ${(err as Error).message}`;
      return { ok: false, checks };
    } finally {
      clearTimeout(timer);
    }
  };
  return [
    {
      prefix: '/healthz',
      handle: (req, res) => {
        if (notGet(req, res)) return;
        answer(res, 200, { status: 'ok', replica: d.replica.id, version: d.version });
      },
    },
    {
      prefix: '/readyz',
      handle: (req, res) => {
        if (notGet(req, res)) return;
        void ready().then(
          (r) => answer(res, r.ok ? 200 : 503, { status: r.ok ? 'ready' : 'not ready', replica: d.replica.id, checks: r.checks }),
          (err: Error) => answer(res, 503, { status: 'not ready', replica: d.replica.id, checks: { error: err.message } }),
        );
      },
    },
  ];
}
