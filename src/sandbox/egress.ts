import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

// The sandbox's one way out besides the gateway: an HTTP(S) proxy in the cage (`sandbox.network.
// allow`), served on the cage's own port, which the sandboxed agent reaches through its bridge
// with HTTPS_PROXY/HTTP_PROXY set. A CONNECT (HTTPS) or an absolute-form request (plain HTTP) is
// carried only to a host the allow-list names, and only for an agent whose run token is the proxy
// credential; every connection, carried or refused, is a `sandbox.egress` event when it ends
// (host, port, bytes each way), and so a /metrics count. The cage resolves the name: the agent
// has no DNS.

/** What a connection came to, said once it has ended. */
export interface EgressRecord {
  agentId: string | null;
  host: string;
  port: number;
  allowed: boolean;
  /** The allow-list entry that let it through; null when refused. */
  rule: string | null;
  method: string;
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  /** Why it was refused, in words; null when carried. */
  refused: string | null;
}

export interface EgressDeps {
  /** Allow-list entries (`pypi.org`, `*.example.com`, with `:port` or for 80 and 443), lower-case. */
  allow: readonly string[];
  /** The agent whose run token `token` is, or null (unknown, expired, not an agent's). */
  agentOf(token: string): Promise<string | null>;
  record(r: EgressRecord): void;
}

const HOST = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** How long an upstream may take to accept a connection. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The entry of `allow` that lets the agent reach `host`:`port`, or null.
 *
 * @example egressRule(['*.example.com'], 'api.example.com', 443) // '*.example.com'
 */
export function egressRule(allow: readonly string[], host: string, port: number): string | null {
  const h = host.toLowerCase();
  for (const rule of allow) {
    const [name, p] = rule.split(':') as [string, string | undefined];
    const portOk = p === undefined ? port === 443 || port === 80 : Number(p) === port;
    const hostOk = name.startsWith('*.') ? h.endsWith(name.slice(1)) && h.length > name.length - 1 : h === name;
    if (portOk && hostOk) return rule;
  }
  return null;
}

/** `host:port` (or `[v6]:port`) of a CONNECT, or null when it is not one. */
function target(authority: string): { host: string; port: number } | null {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(authority);
  if (!m) return null;
  const port = Number(m[2]);
  const host = m[1]!.toLowerCase();
  if (port < 1 || port > 65_535 || host.length > 253 || !(HOST.test(host) || isIP(host))) return null;
  return { host, port };
}

/** The run token in `Proxy-Authorization: Basic base64(user:token)` (or `Bearer token`). */
function proxyToken(req: IncomingMessage): string | null {
  const h = req.headers['proxy-authorization'];
  if (typeof h !== 'string') return null;
  const [scheme, value] = h.split(' ', 2) as [string, string | undefined];
  if (!value) return null;
  if (scheme.toLowerCase() === 'bearer') return value;
  if (scheme.toLowerCase() !== 'basic') return null;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const at = decoded.indexOf(':');
  return at < 0 ? null : decoded.slice(at + 1);
}

export class EgressProxy {
  constructor(private readonly d: EgressDeps) {}

  /** A CONNECT to the cage's port: a tunnel to an allowed host, or 407/403/400 and closed. */
  connect(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const started = Date.now();
    const t = target(req.url ?? '');
    void this.admit(req, t).then(
      (a) => {
        if ('refused' in a) {
          socket.end(
            `HTTP/1.1 ${a.status} ${a.status === 407 ? 'Proxy Authentication Required' : a.status === 400 ? 'Bad Request' : 'Forbidden'}\r\nContent-Type: text/plain\r\nConnection: close${a.status === 407 ? '\r\nProxy-Authenticate: Basic realm="iron-cage"' : ''}\r\n\r\n${a.refused}\n`,
          );
          return this.refusedRecord(a, t, 'CONNECT');
        }
        const up = this.upstream(a.host, a.port);
        let bytesUp = head.length;
        let bytesDown = 0;
        up.once('connect', () => {
          socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          if (head.length > 0) up.write(head);
          socket.on('data', (c: Buffer) => {
            bytesUp += c.length;
          });
          up.on('data', (c: Buffer) => {
            bytesDown += c.length;
          });
          socket.pipe(up);
          up.pipe(socket);
        });
        let said = false;
        const done = (refused: string | null) => {
          if (said) return;
          said = true;
          socket.destroy();
          up.destroy();
          this.d.record({ agentId: a.agentId, host: a.host, port: a.port, allowed: refused === null, rule: a.rule, method: 'CONNECT', bytesUp, bytesDown, durationMs: Date.now() - started, refused });
        };
        up.once('error', (err: NodeJS.ErrnoException) => {
          if (!socket.destroyed && bytesDown === 0 && bytesUp === head.length) socket.end(`HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n${a.host}:${a.port}: ${err.code ?? err.message}\n`);
          done(bytesDown === 0 ? `upstream ${err.code ?? err.message}` : null);
        });
        up.once('close', () => done(null));
        socket.once('close', () => done(null));
        socket.once('error', () => done(null));
      },
      () => socket.destroy(),
    );
  }

  /** A plain-HTTP request in absolute form (`GET http://host/path`): carried to an allowed host. */
  request(req: IncomingMessage, res: ServerResponse): void {
    const started = Date.now();
    let url: URL | null;
    try {
      url = new URL(req.url ?? '');
    } catch {
      url = null;
    }
    const t = url && url.protocol === 'http:' ? target(`${url.hostname}:${url.port || 80}`) : null;
    void this.admit(req, t).then((a) => {
      if ('refused' in a) {
        res.writeHead(a.status, { 'content-type': 'text/plain', connection: 'close', ...(a.status === 407 ? { 'proxy-authenticate': 'Basic realm="iron-cage"' } : {}) });
        res.end(`${a.refused}\n`);
        return this.refusedRecord(a, t, req.method ?? 'GET');
      }
      const up = this.upstream(a.host, a.port);
      let bytesUp = 0;
      let bytesDown = 0;
      const headers = Object.entries(req.headers).filter(([k]) => !/^(proxy-|connection$|keep-alive$)/i.test(k));
      up.once('connect', () => {
        const lines = [
          `${req.method ?? 'GET'} ${url!.pathname}${url!.search} HTTP/1.1`,
          ...headers.flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `${k}: ${x}`) : [`${k}: ${v ?? ''}`])),
          'connection: close',
          '',
          '',
        ];
        const headText = lines.join('\r\n');
        bytesUp += headText.length;
        up.write(headText);
        req.on('data', (c: Buffer) => {
          bytesUp += c.length;
        });
        req.pipe(up);
        up.on('data', (c: Buffer) => {
          bytesDown += c.length;
        });
        // The upstream's answer goes back as it comes, status line and all.
        up.pipe(res.socket!);
      });
      let said = false;
      const done = (refused: string | null) => {
        if (said) return;
        said = true;
        up.destroy();
        res.socket?.destroy();
        this.d.record({
          agentId: a.agentId,
          host: a.host,
          port: a.port,
          allowed: refused === null,
          rule: a.rule,
          method: req.method ?? 'GET',
          bytesUp,
          bytesDown,
          durationMs: Date.now() - started,
          refused,
        });
      };
      up.once('error', (err: NodeJS.ErrnoException) => {
        if (bytesDown === 0 && !res.headersSent) {
          res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' });
          res.end(`${a.host}:${a.port}: ${err.code ?? err.message}\n`);
        }
        done(bytesDown === 0 ? `upstream ${err.code ?? err.message}` : null);
      });
      up.once('close', () => done(null));
    });
  }

  /** Who asks, for where, and whether the allow-list lets them. */
  /** A connection refused before anything was carried: its record (the target as far as it could be read). */
  private refusedRecord(a: { agentId: string | null; refused: string }, t: { host: string; port: number } | null, method: string): void {
    return this.d.record({ agentId: a.agentId, host: t?.host ?? '(invalid)', port: t?.port ?? 0, allowed: false, rule: null, method, bytesUp: 0, bytesDown: 0, durationMs: 0, refused: a.refused });
  }

  private async admit(
    req: IncomingMessage,
    t: { host: string; port: number } | null,
  ): Promise<{ agentId: string; host: string; port: number; rule: string } | { refused: string; status: number; agentId: string | null }> {
    const token = proxyToken(req);
    const agentId = token === null ? null : await this.d.agentOf(token).catch(() => null);
    if (agentId === null) return { refused: 'the egress proxy needs the agent run token as its credential (HTTPS_PROXY as iron-cage set it)', status: 407, agentId: null };
    if (t === null) return { refused: 'not a host and port the egress proxy can carry', status: 400, agentId };
    const rule = egressRule(this.d.allow, t.host, t.port);
    if (rule === null) return { refused: `${t.host}:${t.port} is not in sandbox.network.allow`, status: 403, agentId };
    return { agentId, host: t.host, port: t.port, rule };
  }

  private upstream(host: string, port: number): Socket {
    const s = connect({ host, port, timeout: CONNECT_TIMEOUT_MS });
    s.once('timeout', () => s.destroy(new Error('timed out')));
    return s;
  }
}
