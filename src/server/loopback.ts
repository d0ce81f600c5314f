import { createServer, request, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders, type RequestListener, type Server } from 'node:http';
import { Duplex } from 'node:stream';

// HTTP to a request listener of this process over a connection that never leaves it: the
// request written and the answer read by Node's own HTTP client and server, byte for byte as if
// they had crossed a socket. A transport that is not HTTP (the Responses API over a WebSocket,
// src/gateway/responses-socket.ts) runs each of its calls through the very handler an HTTP
// call takes, hang-ups, back-pressure and all, rather than through a second copy of it.

/**
 * One end of an in-memory connection. What one end writes the other reads; a write waits while
 * the reader is behind (so a slow reader slows the writer, as TCP's window does); ending one
 * end's writing ends the other's reading; destroying either (a reset) destroys both.
 */
class End extends Duplex {
  peer!: End;
  /** The last write, waiting for the peer's reader to ask for more. */
  private waiting: (() => void) | null = null;

  override _read(): void {
    const go = this.peer.waiting;
    this.peer.waiting = null;
    go?.();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.peer.destroyed) return done(Object.assign(new Error('the connection was reset'), { code: 'ECONNRESET' }));
    if (this.peer.push(chunk)) done();
    else this.waiting = () => done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.peer.push(null);
    done();
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    this.waiting = null;
    if (!this.peer.destroyed) this.peer.destroy();
    done(err);
  }

  // What Node's HTTP server and client ask of a socket beyond a stream: nothing to tune here.
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
}

/** The two ends of one in-memory connection. */
export function memoryConnection(): [Duplex, Duplex] {
  const a = new End();
  const b = new End();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export interface LoopbackRequest {
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body: string | Buffer;
}

/**
 * A request listener reached over in-memory connections, one per request.
 *
 * @example
 *   const lo = new Loopback(handler.handle);
 *   const { req, answer } = lo.request({ method: 'POST', path: '/v1/responses', headers, body });
 *   (await answer).on('data', …); // req.destroy() hangs up, as a client closing its socket would
 */
export class Loopback {
  private readonly server: Server;

  constructor(listener: RequestListener) {
    // Never listens: its connections are only those `request` hands it.
    this.server = createServer({ keepAliveTimeout: 0 }, listener);
  }

  request(r: LoopbackRequest): { req: ClientRequest; answer: Promise<IncomingMessage> } {
    const [client, server] = memoryConnection();
    this.server.emit('connection', server);
    const req = request({ method: r.method, path: r.path, headers: { ...r.headers, 'content-length': Buffer.byteLength(r.body) }, createConnection: () => client as never });
    const answer = new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
    });
    // Whoever awaits it hears how it ended; a caller that hung up first never will.
    answer.catch(() => {});
    req.end(r.body);
    return { req, answer };
  }
}
