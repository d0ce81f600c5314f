import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { ForbiddenError, IronCageError, NotFoundError, UnauthorizedError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Authenticator, RawRoute } from '../server/index.js';
import { sendJson, toErrorResponse } from '../server/index.js';

/** What GET /metrics serves: the exposition, read when scraped. */
export interface Scrapable {
  scrape(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsRouteDeps {
  metrics: Scrapable;
  tokens: Pick<Authenticator, 'authenticate'>;
  /** `loopback`: a scraper on this machine needs no token; `token`: every scrape needs one. */
  auth: 'loopback' | 'token';
  /** `metrics.enabled: false`: the path answers 404 saying so (never the dashboard's page). */
  enabled: boolean;
  logger: Logger;
}

/** Headers a proxy adds: a request through one is the proxy's client's, wherever the proxy runs. */
const FORWARDED = ['forwarded', 'x-forwarded-for', 'x-real-ip'];

/** A peer on this machine: 127.0.0.0/8, ::1, or IPv4 mapped into IPv6. */
export function isLoopbackPeer(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(a) === 4) return a.startsWith('127.');
  return a === '::1';
}

/**
 * `GET /metrics`, Prometheus's text format. Who may scrape: a `metrics` or `admin` token from
 * anywhere; with `metrics.auth: loopback` (the default) also a scraper on this machine without a
 * token. A token that is presented is always checked (a bad one is 401 even on loopback).
 */
export function metricsRoute(d: MetricsRouteDeps): RawRoute {
  return {
    prefix: '/metrics',
    handle: (req, res) => {
      serve(d, req, res).catch((err: unknown) => {
        const { status, body, headers, unexpected } = toErrorResponse(err);
        if (unexpected) d.logger.error({ err }, 'GET /metrics failed');
        if (!res.headersSent && !res.destroyed) sendJson(res, status, body, headers);
      });
    },
  };
}

async function serve(d: MetricsRouteDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?', 1)[0];
  if (path !== '/metrics') throw new NotFoundError(`no route ${req.method} ${path}`);
  if (!d.enabled) throw new NotFoundError('/metrics is off here (metrics.enabled: false)');
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new IronCageError('method_not_allowed', 405, `${req.method} /metrics: only GET (and HEAD) are served`, { headers: { allow: 'GET, HEAD' } });
  const presented = req.headers.authorization !== undefined || req.headers['x-api-key'] !== undefined;
  const local = isLoopbackPeer(req.socket.remoteAddress) && !FORWARDED.some((h) => req.headers[h] !== undefined);
  if (presented || d.auth === 'token' || !local) {
    if (!presented)
      throw new UnauthorizedError(
        d.auth === 'token'
          ? '/metrics needs a metrics token (iron-cage token create --role metrics)'
          : '/metrics needs a metrics token from beyond this machine (iron-cage token create --role metrics)',
      );
    const checked = d.tokens.authenticate(req.headers);
    const p = checked instanceof Promise ? await checked : checked;
    if (p.role !== 'metrics' && p.role !== 'admin') throw new ForbiddenError(`/metrics needs a metrics or admin token (this is a ${p.role} token)`);
  }
  const text = await d.metrics.scrape();
  res.writeHead(200, { 'content-type': d.metrics.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(req.method === 'HEAD' ? undefined : text);
}
