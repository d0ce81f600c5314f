import { createServer, type IncomingHttpHeaders, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';

/** A throwaway HTTP server on 127.0.0.1 and a free port. */
export interface TestServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  port: number;
  /** Hangs up every connection still open (answers still held included), then stops listening. */
  close: () => Promise<void>;
}

/**
 * The one way a test starts an HTTP server of its own: on loopback, on a port the system picks.
 *
 * @example
 * const s = await serve((req, res) => res.end('hi'));
 * await fetch(s.url); // 'hi'
 * await s.close();
 */
export async function serve(listener: RequestListener): Promise<TestServer> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

/** A port nothing listens on: bound, noted, released. */
export async function unusedPort(): Promise<number> {
  const s = await serve(() => undefined);
  await s.close();
  return s.port;
}

/** A request's whole body, as text. */
export async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

/** One request a FakeService received. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What a FakeService answers: status, headers, body, optionally held until `after` settles; or never ('hang'). */
export type Reply = { status: number; headers?: Record<string, string | string[]>; body?: string | Buffer; after?: Promise<unknown> } | 'hang';

/**
 * A plain HTTP service on loopback standing in for the outside world iron-cage talks to that is
 * not an LLM (tool services such as LinkedIn, a Slack webhook, an impostor iron-cage): it records
 * every request and answers with whatever `reply` says at that moment, so a test can make it fail.
 * The LLM upstream is FakeLlm (fake-llm.ts).
 *
 * @example
 * const svc = await FakeService.start();
 * svc.failWith(503);
 * // ... calls through iron-cage ...
 * expect(svc.seen).toHaveLength(1);
 */
export class FakeService {
  readonly seen: Seen[] = [];
  reply: (req: Seen) => Reply = (req) => this.ok(req);
  private server!: TestServer;

  static async start(): Promise<FakeService> {
    const s = new FakeService();
    s.server = await serve((req, res) => void s.handle(req, res));
    return s;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const seen: Seen = { method: req.method!, url: req.url!, headers: req.headers, body: await bodyOf(req) };
    this.seen.push(seen);
    const r = this.reply(seen);
    if (r === 'hang') return;
    await r.after;
    if (res.destroyed) return;
    res.writeHead(r.status, r.headers ?? {});
    res.end(r.body ?? '');
  }

  get url(): string {
    return this.server.url;
  }

  get port(): number {
    return this.server.port;
  }

  /** The default answer: 200 with JSON naming the path. */
  ok(req: Seen): Reply {
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: req.url, n: this.seen.length }) };
  }

  /** Back to answering every request with `ok`. */
  heal(): void {
    this.reply = (req) => this.ok(req);
  }

  failWith(status: number, headers: Record<string, string> = {}): void {
    this.reply = () => ({ status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ error: `upstream ${status}` }) });
  }

  /** Requests the service has seen since `from` (an index into `seen`). */
  since(from: number): Seen[] {
    return this.seen.slice(from);
  }

  /** The bodies received, parsed as JSON. */
  json(): any[] {
    return this.seen.map((s) => JSON.parse(s.body));
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/** A loopback port nothing listens on right now (for a process that must come back on the same one). */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createNetServer();
      s.unref();
      s.on('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    // Free now, and not one this process handed out already: the port is closed again before
    // the caller binds it, so calls side by side (five runtimes set up at once) could be given
    // the same one, and one runtime's requests then reached another's server.
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('freePort: the system gave only ports already handed out, 100 times');
}

/** Every port freePort gave in this process (a few hundred a run at most, of ~28,000 ephemeral ones). */
const handedOut = new Set<number>();
