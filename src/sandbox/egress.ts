import type { IncomingMessage, ServerResponse } from 'node:http';
import { lookup as dnsLookup } from 'node:dns/promises';
import { connect, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { agentStanding, closedWords, type TokenService } from '../auth/index.js';
import type { StateManager } from '../state/index.js';

// The sandbox's one way out besides the gateway: an HTTP(S) proxy in the cage (`sandbox.network.
// allow`), served on the cage's own port, which the sandboxed agent reaches through its bridge
// with HTTPS_PROXY/HTTP_PROXY set. A CONNECT (HTTPS) or an absolute-form request (plain HTTP) is
// carried only to a host the allow-list names, and only for an agent whose run token is the proxy
// credential while that run is live (a connection open when it ends is cut); every connection,
// carried or refused, is a `sandbox.egress` event when it ends (host, port, bytes each way), and
// so a /metrics count. The cage resolves the name (the agent has no DNS), once per connection:
// it judges the addresses and connects to the one it judged, so a name cannot lead to this
// machine, the cloud's metadata service or, through a wildcard, the private network, not even by
// answering differently the second time it is asked.

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
  /** Why a connection carried was cut before either end closed it (its run ended); null otherwise. */
  cut: string | null;
}

/** Whose a proxy credential is: the agent whose live run it belongs to, or why it opens nothing (and whose it was, when known). */
export type EgressCredential = { agentId: string } | { refused: string; agentId: string | null };

/** An address a name resolved to. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

export interface EgressDeps {
  /** Allow-list entries (`pypi.org`, `*.example.com`, with `:port` or for 80 and 443), lower-case. */
  allow: readonly string[];
  /** The agent whose live run the token `token` is, or why it is not one (unknown, expired, not a run's, its run ended). */
  agentOf(token: string): Promise<EgressCredential>;
  /** Hear, for the proxy's life, that some run may have ended (a token revoked, an agent exited): each open connection's credential is then checked again and cut when it no longer holds. */
  onRunsChanged?(listener: () => void): void;
  /** A name's addresses, every one (the system's resolver by default). */
  lookup?(host: string): Promise<ResolvedAddress[]>;
  /** A connection to the address the proxy judged (a TCP connection by default; a test routes a private address it does not have). */
  connect?(address: string, port: number): Socket;
  record(r: EgressRecord): void;
}

const HOST = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** How long an upstream may take to accept a connection. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The entry of `allow` that lets the agent reach `host`:`port`, or null. A wildcard names host
 * names only: an IP address is reached only by an entry that is that address.
 *
 * @example egressRule(['*.example.com'], 'api.example.com', 443) // '*.example.com'
 */
export function egressRule(allow: readonly string[], host: string, port: number): string | null {
  const h = host.toLowerCase();
  for (const rule of allow) {
    const [name, p] = rule.split(':') as [string, string | undefined];
    const portOk = p === undefined ? port === 443 || port === 80 : Number(p) === port;
    const hostOk = name.startsWith('*.') ? isIP(h) === 0 && h.endsWith(name.slice(1)) && h.length > name.length - 1 : h === name;
    if (portOk && hostOk) return rule;
  }
  return null;
}

/** The 16-bit words of an IPv6 address (`::` expanded, a dotted IPv4 tail read as two words). */
function ipv6Words(address: string): number[] {
  let a = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (dotted) {
    const [b0, b1, b2, b3] = dotted.slice(1).map(Number) as [number, number, number, number];
    a = `${a.slice(0, dotted.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = a.split('::') as [string, string | undefined];
  const words = (s: string | undefined) => (s ? s.split(':').map((w) => Number.parseInt(w, 16)) : []);
  const h = words(head);
  const t = words(tail);
  return tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** An IPv4 address as its 32 bits. */
const ipv4Bits = (address: string): number => address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
const inV4 = (bits: number, net: string, prefix: number): boolean => Math.floor(bits / 2 ** (32 - prefix)) === Math.floor(ipv4Bits(net) / 2 ** (32 - prefix));

/** What an address is, as the egress judges it: a kind never reached through a name, private, or public. */
export type AddressKind = 'loopback' | 'unspecified' | 'link-local' | 'multicast' | 'broadcast' | 'private' | 'public';

/**
 * The kind of an IP address; an IPv4-mapped (`::ffff:127.0.0.1`) or IPv4-compatible (`::127.0.0.1`)
 * IPv6 address is the kind of the IPv4 address it carries.
 *
 * @example addressKind('169.254.169.254') // 'link-local'
 * @example addressKind('::ffff:10.0.0.5') // 'private'
 */
export function addressKind(address: string): AddressKind {
  if (isIP(address) === 4) {
    const b = ipv4Bits(address);
    if (inV4(b, '0.0.0.0', 8)) return 'unspecified';
    if (inV4(b, '127.0.0.0', 8)) return 'loopback';
    if (inV4(b, '169.254.0.0', 16)) return 'link-local';
    if (inV4(b, '224.0.0.0', 4)) return 'multicast';
    if (b === 0xffffffff) return 'broadcast';
    if (inV4(b, '10.0.0.0', 8) || inV4(b, '172.16.0.0', 12) || inV4(b, '192.168.0.0', 16) || inV4(b, '100.64.0.0', 10)) return 'private';
    return 'public';
  }
  const w = ipv6Words(address);
  if (w.slice(0, 5).every((x) => x === 0) && (w[5] === 0xffff || (w[5] === 0 && (w[6] !== 0 || w[7]! > 1)))) {
    return addressKind(`${w[6]! >> 8}.${w[6]! & 0xff}.${w[7]! >> 8}.${w[7]! & 0xff}`);
  }
  if (w.every((x) => x === 0)) return 'unspecified';
  if (w.slice(0, 7).every((x) => x === 0) && w[7] === 1) return 'loopback';
  if ((w[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((w[0]! & 0xff00) === 0xff00) return 'multicast';
  if ((w[0]! & 0xfe00) === 0xfc00) return 'private';
  return 'public';
}

/** Kinds never reached through a name, whatever the allow-list says: this machine, its link, many hosts at once. */
const NEVER_BY_NAME: ReadonlySet<AddressKind> = new Set(['loopback', 'unspecified', 'link-local', 'multicast', 'broadcast']);

/**
 * Why the addresses `host` resolved to may not be reached under `rule`, or null when they may.
 * A name never leads to this machine (loopback, unspecified), its link (link-local, the cloud's
 * metadata service at 169.254.169.254 among them) or many hosts at once; to a private address
 * only when the user named that host exactly (an internal host they chose), not by a wildcard.
 *
 * @example addressRefusal('api.example.com', '*.example.com', [{ address: '127.0.0.1', family: 4 }]) // 'api.example.com resolves to 127.0.0.1, a loopback address, which no host name …'
 * @example addressRefusal('wiki.corp.example', 'wiki.corp.example', [{ address: '10.0.0.7', family: 4 }]) // null
 */
export function addressRefusal(host: string, rule: string, addresses: readonly ResolvedAddress[]): string | null {
  for (const { address } of addresses) {
    const kind = addressKind(address);
    const metadata = address === '169.254.169.254' ? ' (the cloud metadata service)' : '';
    if (NEVER_BY_NAME.has(kind)) return `${host} resolves to ${address}, ${kind === 'unspecified' ? 'an' : 'a'} ${kind} address${metadata}, which no host name in sandbox.network.allow reaches`;
    if (kind === 'private' && rule.startsWith('*.'))
      return `${host} resolves to ${address}, a private address, which a wildcard (${rule}) does not reach: name the host itself in sandbox.network.allow`;
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

/** An admitted connection: whose, to which host (as named) and address (as judged), under which entry. */
interface Admitted {
  agentId: string;
  host: string;
  address: string;
  port: number;
  rule: string;
}

type Refusal = { refused: string; status: number; agentId: string | null };

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 407: 'Proxy Authentication Required', 502: 'Bad Gateway' };

export class EgressProxy {
  /** The connections carried now, each with its credential: checked again when a run may have ended. */
  private readonly open = new Set<{ token: string; cut: (why: string) => void }>();
  private readonly lookup: (host: string) => Promise<ResolvedAddress[]>;

  constructor(private readonly d: EgressDeps) {
    this.lookup = d.lookup ?? ((host) => dnsLookup(host, { all: true, verbatim: true }));
    d.onRunsChanged?.(() => void this.recheck());
  }

  /**
   * The credential rule of every agent-facing door (`agentStanding`, src/auth): the token verifies
   * (`TokenService.verify`: a run token only while its run's process lives, in this iron-cage
   * process), it is an agent's, of an agent this iron-cage knows whose run has not ended. Here it
   * must also be a run's own token, not an API token: the egress proxy is the sandboxed agent's alone.
   *
   * @example new EgressProxy({ allow, agentOf: EgressProxy.liveRuns(tokens, state), record })
   */
  static liveRuns(tokens: Pick<TokenService, 'verify'>, state: Pick<StateManager, 'agentBrief'>): (token: string) => Promise<EgressCredential> {
    return async (token) => {
      const p = await tokens.verify(token);
      if (p.role !== 'agent' || p.agentId === null) return { refused: `the egress proxy takes an agent's run token, not a ${p.role} token`, agentId: null };
      if (p.apiToken === true) return { refused: "the egress proxy takes the sandboxed agent's run token, not an API token", agentId: p.agentId };
      const s = agentStanding(state, p.agentId);
      if ('closed' in s)
        return s.closed === 'unknown'
          ? { refused: closedWords(p.agentId, s), agentId: null }
          : { refused: `agent ${p.agentId} has ${s.status}: its run token no longer opens egress`, agentId: p.agentId };
      return { agentId: p.agentId };
    };
  }

  /** A CONNECT to the cage's port: a tunnel to an allowed host, or 407/403/400/502 and closed. */
  connect(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const started = Date.now();
    const t = target(req.url ?? '');
    const token = proxyToken(req);
    void this.admit(token, t).then(
      (a) => {
        if ('refused' in a) {
          socket.end(
            `HTTP/1.1 ${a.status} ${STATUS_TEXT[a.status]}\r\nContent-Type: text/plain\r\nConnection: close${a.status === 407 ? '\r\nProxy-Authenticate: Basic realm="iron-cage"' : ''}\r\n\r\n${a.refused}\n`,
          );
          return this.refusedRecord(a, t, 'CONNECT');
        }
        const up = this.upstream(a.address, a.port);
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
        const done = this.carried(
          token!,
          a,
          'CONNECT',
          started,
          () => ({ bytesUp, bytesDown }),
          () => {
            socket.destroy();
            up.destroy();
          },
        );
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
    const token = proxyToken(req);
    void this.admit(token, t).then(
      (a) => {
        if ('refused' in a) {
          res.writeHead(a.status, { 'content-type': 'text/plain', connection: 'close', ...(a.status === 407 ? { 'proxy-authenticate': 'Basic realm="iron-cage"' } : {}) });
          res.end(`${a.refused}\n`);
          return this.refusedRecord(a, t, req.method ?? 'GET');
        }
        const up = this.upstream(a.address, a.port);
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
        const done = this.carried(
          token!,
          a,
          req.method ?? 'GET',
          started,
          () => ({ bytesUp, bytesDown }),
          () => {
            up.destroy();
            res.socket?.destroy();
          },
        );
        up.once('error', (err: NodeJS.ErrnoException) => {
          if (bytesDown === 0 && !res.headersSent) {
            res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' });
            res.end(`${a.host}:${a.port}: ${err.code ?? err.message}\n`);
          }
          done(bytesDown === 0 ? `upstream ${err.code ?? err.message}` : null);
        });
        up.once('close', () => done(null));
      },
      () => res.socket?.destroy(),
    );
  }

  /**
   * A connection being carried, kept while its run is live (cut, and said, when it ends): the
   * returned `done` ends it once, closing both sides (`close`) and recording what it carried.
   * `refused`: why it failed before anything came back; `cut`: why the cage ended it.
   */
  private carried(
    token: string,
    a: Admitted,
    method: string,
    started: number,
    bytes: () => { bytesUp: number; bytesDown: number },
    close: () => void,
  ): (refused: string | null, cut?: string | null) => void {
    let said = false;
    const entry = { token, cut: (why: string) => done(null, why) };
    this.open.add(entry);
    const done = (refused: string | null, cut: string | null = null): void => {
      if (said) return;
      said = true;
      this.open.delete(entry);
      close();
      this.d.record({ agentId: a.agentId, host: a.host, port: a.port, allowed: refused === null, rule: a.rule, method, ...bytes(), durationMs: Date.now() - started, refused, cut });
    };
    return done;
  }

  /** A connection refused before anything was carried: its record (the target as far as it could be read). */
  private refusedRecord(a: Refusal, t: { host: string; port: number } | null, method: string): void {
    return this.d.record({
      agentId: a.agentId,
      host: t?.host ?? '(invalid)',
      port: t?.port ?? 0,
      allowed: false,
      rule: null,
      method,
      bytesUp: 0,
      bytesDown: 0,
      durationMs: 0,
      refused: a.refused,
      cut: null,
    });
  }

  /** Who asks (a live run's token), for where (an entry of the allow-list), and the address to connect to: judged once, used as judged. */
  private async admit(token: string | null, t: { host: string; port: number } | null): Promise<Admitted | Refusal> {
    const who: EgressCredential =
      token === null
        ? { refused: 'the egress proxy needs the agent run token as its credential (HTTPS_PROXY as iron-cage set it)', agentId: null }
        : await this.d.agentOf(token).catch((e: unknown) => ({ refused: `the egress proxy's credential was refused: ${(e as Error).message}`, agentId: null }));
    if ('refused' in who) return { refused: who.refused, status: 407, agentId: who.agentId };
    const { agentId } = who;
    if (t === null) return { refused: 'not a host and port the egress proxy can carry', status: 400, agentId };
    const rule = egressRule(this.d.allow, t.host, t.port);
    if (rule === null) return { refused: `${t.host}:${t.port} is not in sandbox.network.allow`, status: 403, agentId };
    // An address the user allowed is reached as it is; a name is resolved here, once.
    if (isIP(t.host) !== 0) return { agentId, host: t.host, address: t.host, port: t.port, rule };
    let addresses: ResolvedAddress[];
    try {
      addresses = await this.lookup(t.host);
    } catch (e) {
      return { refused: `${t.host} does not resolve (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, status: 502, agentId };
    }
    if (addresses.length === 0) return { refused: `${t.host} does not resolve`, status: 502, agentId };
    const refused = addressRefusal(t.host, rule, addresses);
    if (refused !== null) return { refused, status: 403, agentId };
    return { agentId, host: t.host, address: addresses[0]!.address, port: t.port, rule };
  }

  /** Every open connection's credential checked again: one whose run has ended is cut, saying so. */
  private async recheck(): Promise<void> {
    await Promise.all(
      [...this.open].map(async (c) => {
        const who = await this.d.agentOf(c.token).catch((e: unknown) => ({ refused: (e as Error).message, agentId: null }));
        if ('refused' in who) c.cut(who.refused);
      }),
    );
  }

  private upstream(address: string, port: number): Socket {
    const s = this.d.connect ? this.d.connect(address, port) : connect({ host: address, port, timeout: CONNECT_TIMEOUT_MS });
    s.once('timeout', () => s.destroy(new Error('timed out')));
    return s;
  }
}
