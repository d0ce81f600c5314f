import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Client } from 'pg';
import { endClient, schemaCurrent } from '../state/index.js';
import type { RawRoute } from '../server/index.js';
import type { Outage } from './outage.js';
import type { Replica } from './replica.js';

// The panel's probes for a load balancer and Kubernetes, in front of its replicas: GET /healthz says the process
// serves (liveness: restart it when this fails), GET /readyz that it should get requests
// (readiness: PostgreSQL answers, its schema holds every migration this build needs, and the
// replica is not draining). Neither needs a token nor says more than that; both answer fast.
// Readiness asks PostgreSQL on a connection of its own, never the pool's: on a busy replica a
// pooled query waits behind the requests, past a balancer's check timeout, and a balancer would
// take out every busy replica at once for being busy (the fleet benchmark saw HAProxy answer 503).

/** How long the readiness probe waits for PostgreSQL before it says not ready. */
const DB_CHECK_MS = 2_000;
/** A current schema stays known this long (the migrations table is not read on every probe). */
const SCHEMA_KNOWN_MS = 30_000;
/** A request that used the database this recently says it answers (the probe asks nothing more). */
const RECENT_MS = 2_000;

/** The database answers but lacks migrations this build needs. */
class SchemaLacking extends Error {
  constructor() {
    super('lacks migrations this build needs');
  }
}

function answer(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) }).end(text);
}

export interface ProbeDeps {
  /** The database the pool reaches: the probes' connection is one of their own. */
  url: string;
  outage: Outage;
  replica: Replica;
  version: string;
  /** How long a current schema stays known (SCHEMA_KNOWN_MS; a test shortens it). */
  schemaKnownMs?: number;
}

export interface PanelProbes {
  routes: RawRoute[];
  /** End the probes' connection. */
  close(): Promise<void>;
}

export function panelProbes(d: ProbeDeps): PanelProbes {
  const schemaKnownMs = d.schemaKnownMs ?? SCHEMA_KNOWN_MS;
  /** When the schema was last found current (0: not known, or found lacking since). */
  let schemaOkAt = 0;
  let refreshing = false;
  let closed = false;
  /** The probes' connection, made on first use and again after it failed; its queries one at a time. */
  let own: Promise<Client> | null = null;
  const drop = (c: Promise<Client>): void => {
    if (own === c) own = null;
    void c.then((x) => endClient(x)).catch(() => undefined);
  };
  const connection = (): Promise<Client> => {
    if (closed) return Promise.reject(new Error('the replica is stopping'));
    if (own) return own;
    const made: Promise<Client> = (async () => {
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: d.url, application_name: `iron-cage panel ${d.replica.id} (probes)`, connectionTimeoutMillis: DB_CHECK_MS });
      c.on('error', () => drop(made));
      c.on('end', () => {
        if (own === made) own = null;
      });
      await c.connect();
      return c;
    })();
    own = made;
    made.catch(() => {
      if (own === made) own = null;
    });
    return made;
  };
  const notGet = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method === 'GET' || req.method === 'HEAD') return false;
    res.setHeader('allow', 'GET, HEAD');
    answer(res, 405, { status: 'error', error: `${req.method} is not a probe: GET it` });
    return true;
  };
  /** PostgreSQL answers within DB_CHECK_MS, and (when not known lately) holds this build's schema; else throws what is wrong. */
  const check = async (): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const c = connection();
    try {
      await Promise.race([
        (async () => {
          const db = await c;
          await db.query('select 1');
          if (Date.now() - schemaOkAt >= schemaKnownMs) {
            if (!(await schemaCurrent(db))) {
              schemaOkAt = 0;
              throw new SchemaLacking();
            }
            schemaOkAt = Date.now();
          }
        })(),
        new Promise((_, reject) => {
          timer = setTimeout(() => {
            // A connection that does not answer (a dead peer, no reset) is not asked again: the next probe connects anew.
            drop(c);
            reject(new Error(`no answer within ${DB_CHECK_MS / 1000} s`));
          }, DB_CHECK_MS);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
  /**
   * The schema read again beside the probes, not in their way: on a busy replica the probe's
   * query would wait for a pooled connection behind the requests, past a balancer's check timeout,
   * and on every replica at once (they learnt their schema together). Only finding it lacking
   * forgets it; a slow answer is no news about the schema.
   */
  const refresh = (): void => {
    if (refreshing) return;
    refreshing = true;
    void check()
      .catch(() => undefined)
      .finally(() => (refreshing = false));
  };
  const ready = async (): Promise<{ ok: boolean; checks: Record<string, string> }> => {
    if (d.replica.draining) return { ok: false, checks: { replica: 'draining: stopping, taking nothing new' } };
    const checks: Record<string, string> = { replica: 'serving' };
    if (!d.outage.down && Date.now() - d.outage.okAt < RECENT_MS && schemaOkAt > 0) {
      if (Date.now() - schemaOkAt >= schemaKnownMs) refresh();
      return { ok: true, checks: { ...checks, database: 'ok', schema: 'current' } };
    }
    try {
      await check();
      return { ok: true, checks: { ...checks, database: 'ok', schema: 'current' } };
    } catch (err) {
      if (err instanceof SchemaLacking) return { ok: false, checks: { ...checks, database: 'ok', schema: err.message } };
      return { ok: false, checks: { ...checks, database: `PostgreSQL: ${(err as Error).message}` } };
    }
  };
  const routes: RawRoute[] = [
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
  return {
    routes,
    close: async () => {
      closed = true;
      const c = own;
      own = null;
      await c?.then((x) => endClient(x)).catch(() => undefined);
    },
  };
}
