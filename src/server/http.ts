import { createServer, type IncomingMessage, maxHeaderSize, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { getRequestListener } from '@hono/node-server';
import { createApp } from './app.js';
import { IronCageError, UnavailableError, ValidationError } from '../core/errors.js';
import { startedUp } from '../core/startup.js';
import type { ServerDeps } from './context.js';
import { toErrorResponse, upgradeRefusal } from './errors.js';
import { sendJson } from './io.js';
import { HostGuard, singleHost } from './hosts.js';
import { WsHub } from './ws.js';

export interface ServerOptions {
  host: string;
  port: number;
  allowedHosts: string[];
  corsOrigins: string[];
  /** Serve HTTPS with this certificate and key (PEM); absent: plain HTTP. */
  tls?: { cert: Buffer | string; key: Buffer | string };
}

/**
 * One row of the server's route table: a Hono route (`rest`), a raw prefix handled by plain
 * Node (`raw`, any method: the LLM gateway, the tool proxy) or the WebSocket (`ws`). The RBAC
 * test walks this table so a new route cannot ship without its row of expected access.
 */
export interface RouteRow {
  method: string;
  path: string;
  surface: 'rest' | 'raw' | 'ws';
}

/** What answers proxy requests on the server's port (src/sandbox/egress.ts). */
export interface ProxyHandler {
  connect(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  request(req: IncomingMessage, res: ServerResponse): void;
}

export interface RunningServer {
  port: number;
  /** Every route this server answers; see RouteRow. */
  routes: readonly RouteRow[];
  /** Base URL with the loopback name a user can open. */
  url: string;
  hub: WsHub;
  /**
   * Serve one connection that came another way (a sandboxed agent's, from its own network's
   * loopback) as if it had come to the port, except that its peer has no address on this machine.
   */
  accept(socket: Duplex): void;
  /** Serve proxy requests (CONNECT, absolute-form URLs) through `p` (the sandbox's egress proxy); none: refused. */
  proxy(p: ProxyHandler | null): void;
  /**
   * Stop taking new connections and requests, let those in flight finish (each answered with
   * `Connection: close`), tell the WebSocket clients to go elsewhere, and resolve once every
   * connection ended or `timeoutMs` passed (what is left is then cut).
   */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Binds first (so an ephemeral port is known), then builds the guard and app for that port.
 * The raw listener does the Host check for every request, REST and WebSocket alike.
 */
export async function startServer(deps: Omit<ServerDeps, 'guard'>, o: ServerOptions): Promise<RunningServer> {
  const server: Server = o.tls ? createHttpsServer({ keepAliveTimeout: 65_000, cert: o.tls.cert, key: o.tls.key }) : createServer({ keepAliveTimeout: 65_000 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const guard = new HostGuard(o.host, port, o.allowedHosts, o.corsOrigins);
  const full: ServerDeps = { ...deps, guard };
  const app = createApp(full);
  const honoListener = getRequestListener(app.fetch);
  const hub = new WsHub(deps.feed, full);
  const raw = deps.rawRoutes ?? [];
  const upgrades = deps.upgradeRoutes ?? [];
  const hostRefusal = (host: string | undefined) => new IronCageError('forbidden_host', 403, `Host '${host ?? ''}' is not this server; use http://127.0.0.1:${port} or add it to allowed_hosts`);

  // Two Host headers is how request smuggling starts: nothing more is read from that connection.
  const twoHosts = new ValidationError('the request has more than one Host header', 'duplicate_host', { close: true });
  let proxy: ProxyHandler | null = null;
  // A proxy request names its target in its URL (and its Host): it is the egress proxy's to judge, not the Host guard's.
  server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (proxy) return proxy.connect(req, socket, head);
    socket.end('HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\n\r\n');
  });
  const probes = deps.probes ?? [];
  let draining = false;
  /** Answers not yet sent whole: a drain makes each its connection's last too. */
  const inFlight = new Set<ServerResponse>();
  /** Once an answer begun before the drain is sent, its connection (idle now) is closed rather than kept alive until the drain's timeout. */
  const closeWhenDone = (res: ServerResponse) => res.once('close', () => setImmediate(() => server.closeIdleConnections()));
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // Draining: this answer is the connection's last (the client's next request goes to another replica).
    if (draining) res.shouldKeepAlive = false;
    else {
      inFlight.add(res);
      res.once('close', () => inFlight.delete(res));
    }
    if (proxy && /^http:\/\//i.test(req.url ?? '')) return proxy.request(req, res);
    const path = (req.url ?? '/').split('?', 1)[0]!;
    for (const r of probes) if (path === r.prefix) return r.handle(req, res);
    if (singleHost(req.rawHeaders) === null) {
      const { status, body, headers } = toErrorResponse(twoHosts);
      sendJson(res, status, body, headers);
      return;
    }
    if (!guard.allowsHost(req.headers.host)) {
      const { status, body, headers } = toErrorResponse(hostRefusal(req.headers.host));
      sendJson(res, status, body, headers);
      return;
    }
    const url = req.url ?? '/';
    for (const r of raw) if (url.startsWith(r.prefix)) return r.handle(req, res);
    void honoListener(req, res);
  });
  server.on('upgrade', (req, socket, head) => {
    // Until the WebSocket library takes the socket (after the token is checked, which may wait),
    // nothing else listens for its errors: a client that resets it meanwhile (a page that closes
    // the socket it was opening) would be an uncaught exception that ends the process.
    socket.on('error', () => socket.destroy());
    // Draining: no new WebSocket (one accepted now would hold the server's close open); the page reconnects elsewhere.
    if (draining) {
      socket.end(upgradeRefusal(new UnavailableError('this server is stopping: connect again', 1)));
      return;
    }
    if (singleHost(req.rawHeaders) === null) {
      socket.end(upgradeRefusal(twoHosts));
      return;
    }
    if (!guard.allowsHost(req.headers.host)) {
      socket.end(upgradeRefusal(hostRefusal(req.headers.host)));
      return;
    }
    // A page may open a WebSocket to any address: only one from this server's own pages (or an allowed origin) gets one.
    if (!guard.sameOriginOrAllowed(req.headers.origin, req.headers.host)) {
      socket.end(upgradeRefusal(new IronCageError('forbidden_origin', 403, `origin ${req.headers.origin} is not allowed`)));
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0]!;
    for (const u of upgrades) if (path === u.path) return u.handle(req, socket, head);
    hub.handleUpgrade(req, socket, head);
  });
  // A request Node's parser refuses (before any handler) is answered as every other refusal is:
  // its status and a JSON body saying what was wrong, then the connection closes.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const open = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage;
    if (!socket.writable || open?.headersSent) return void socket.destroy();
    socket.end(clientErrorAnswer(err.code));
  });

  const urlHost = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host.includes(':') ? `[${o.host}]` : o.host;
  startedUp();
  return {
    port,
    routes: routeTable(app.routes, raw, upgrades),
    url: `${o.tls ? 'https' : 'http'}://${urlHost}:${port}`,
    hub,
    accept: (socket) => {
      // Its 127.0.0.1 is the sandbox's own loopback, not this machine's: it has no address here (as a
      // Unix socket's peer has none), so nothing that trusts a peer on this machine (/metrics) trusts it.
      Object.defineProperties(socket, { remoteAddress: { value: undefined }, remoteFamily: { value: undefined }, remotePort: { value: undefined } });
      server.emit('connection', socket);
    },
    proxy: (p) => {
      proxy = p;
    },
    drain: (timeoutMs) =>
      new Promise<void>((resolve) => {
        draining = true;
        // Requests already in flight: answered with Connection: close when their headers are still to go, else their connection closed once they are.
        for (const res of inFlight) {
          if (!res.headersSent) res.shouldKeepAlive = false;
          else closeWhenDone(res);
        }
        hub.close();
        const cut = setTimeout(() => server.closeAllConnections(), timeoutMs);
        cut.unref();
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        server.closeIdleConnections();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        hub.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The route table: Hono's routes (its `app.use` middleware is registered as method ALL and is
 * not a route), each raw prefix, the hub's WebSocket and every other one.
 *
 * @example
 *   routeTable(app.routes, [{ prefix: '/v1/', handle }]) // [..., { method: '*', path: '/v1/*', surface: 'raw' }, { method: 'GET', path: '/ws', surface: 'ws' }]
 */
export function routeTable(hono: ReadonlyArray<{ method: string; path: string }>, raw: ReadonlyArray<{ prefix: string }>, upgrades: ReadonlyArray<{ path: string }> = []): RouteRow[] {
  const seen = new Set<string>();
  const rows: RouteRow[] = [];
  for (const r of hono) {
    const key = `${r.method} ${r.path}`;
    if (r.method === 'ALL' || seen.has(key)) continue;
    seen.add(key);
    rows.push({ method: r.method, path: r.path, surface: 'rest' });
  }
  for (const r of raw) rows.push({ method: '*', path: `${r.prefix}*`, surface: 'raw' });
  rows.push({ method: 'GET', path: '/ws', surface: 'ws' });
  for (const u of upgrades) rows.push({ method: 'GET', path: u.path, surface: 'ws' });
  return rows;
}

/**
 * Whether `host`:`port` can be listened on now: null, or the error a listen meets (EADDRINUSE,
 * EADDRNOTAVAIL, ENOTFOUND, EACCES). Asked before anything is made for a start (its state file,
 * its keys), so that a port in use refuses it with nothing to take back; a port taken between this
 * and the real listen is still refused then.
 *
 * @example
 * const err = await tryListen('127.0.0.1', 8080); // null, or { code: 'EADDRINUSE', … }
 */
export function tryListen(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const s = createNetServer();
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    s.listen(port, host, () => s.close(() => resolve(null)));
  });
}

/**
 * The whole HTTP answer to a request Node's parser refused (`clientError`): 431 for headers over
 * its limit, 408 for a request not sent in time, else 400, with the error body every surface uses.
 */
export function clientErrorAnswer(code: string | undefined): string {
  const [status, kind, message] =
    code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', `the request headers are larger than this server reads (${Math.round(maxHeaderSize / 1024)} KB): send fewer or smaller ones`]
      : code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request was not received in time']
        : code === 'HPE_INVALID_METHOD'
          ? [400, 'bad_request', 'the request method is not one HTTP knows']
          : [400, 'bad_request', `the request is not valid HTTP${code?.startsWith('HPE_') ? ` (${code.slice(4).toLowerCase().replaceAll('_', ' ')})` : ''}`];
  return upgradeRefusal(new IronCageError(kind, status, message));
}
