import { isIP } from 'node:net';

/**
 * The request's one Host header, or null when it sent several: Node keeps only the first in
 * `req.headers`, while a proxy in front of us may have routed on another, so the guard would
 * check a name nobody used.
 *
 * @example
 *   singleHost(req.rawHeaders) // 'localhost:8080', or null for two Host lines
 */
export function singleHost(rawHeaders: string[]): string | undefined | null {
  let host: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'host') continue;
    if (host !== undefined) return null;
    host = rawHeaders[i + 1]!;
  }
  return host;
}

/**
 * DNS-rebinding guard. A page on evil.example can make a browser resolve its own name to
 * 127.0.0.1 and talk to us; the Host header still says evil.example. So we answer only when
 * Host names us: an IP literal, localhost, the bound host, or one configured explicitly,
 * always with our port.
 */
export class HostGuard {
  /** Bare names that are us when paired with our port. */
  private readonly names: Set<string>;
  /** Configured `host:port` entries, matched exactly. */
  private readonly exact: Set<string>;
  private readonly origins: Set<string>;

  constructor(
    bindHost: string,
    private readonly port: number,
    allowedHosts: string[],
    corsOrigins: string[],
  ) {
    const configured = allowedHosts.map((h) => h.toLowerCase());
    this.exact = new Set(configured.filter((h) => /:\d+$/.test(h) && !h.endsWith(']')));
    this.names = new Set(['localhost', bindHost.toLowerCase(), ...configured.filter((h) => !this.exact.has(h))]);
    this.origins = new Set(corsOrigins.map((o) => o.toLowerCase()));
  }

  allowsHost(hostHeader: string | undefined): boolean {
    if (!hostHeader) return false;
    const h = hostHeader.toLowerCase();
    if (this.exact.has(h)) return true;
    const m = /^(\[[0-9a-f:.]+\]|[^:]+)(?::(\d+))?$/.exec(h);
    if (!m) return false;
    const name = m[1]!;
    const port = m[2] === undefined ? 80 : Number(m[2]);
    if (port !== this.port) return false;
    const bare = name.startsWith('[') ? name.slice(1, -1) : name;
    return isIP(bare) !== 0 || this.names.has(name) || this.names.has(bare);
  }

  /**
   * Cross-origin callers we answer with CORS headers: configured origins, or this server on a
   * loopback name. (Same-origin requests need no CORS; `sameOrigin` covers WebSockets.)
   */
  allowsOrigin(origin: string | undefined): boolean {
    if (!origin) return false;
    const o = origin.toLowerCase();
    if (this.origins.has(o)) return true;
    const m = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\]|[^:/]+):(\d+)$/.exec(o);
    if (!m || Number(m[2]) !== this.port) return false;
    return ['localhost', '127.0.0.1', '[::1]'].includes(m[1]!) || this.names.has(m[1]!);
  }

  /** A browser's Origin matches the Host it is talking to (our own dashboard), or is allowed. */
  sameOriginOrAllowed(origin: string | undefined, hostHeader: string | undefined): boolean {
    if (!origin) return true; // not a browser
    const m = /^https?:\/\/(.+)$/.exec(origin.toLowerCase());
    if (m && hostHeader && m[1] === hostHeader.toLowerCase()) return true;
    return this.allowsOrigin(origin);
  }
}
