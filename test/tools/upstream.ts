import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../src/config/index.js';
import type { ToolServiceConfig } from '../../src/config/tools.js';
import { toolsSchema } from '../../src/config/tools.js';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Reply = { status: number; headers?: Record<string, string | string[]>; body?: string | Buffer } | 'hang';

/**
 * A real HTTP service on 127.0.0.1:0 standing in for LinkedIn & co. It records every request
 * it gets and answers with whatever `reply` says at that moment, so a test can make it fail.
 */
export class Upstream {
  readonly seen: Seen[] = [];
  reply: (req: Seen) => Reply = (req) => this.ok(req);
  private readonly server: Server;
  private readonly hanging = new Set<ServerResponse>();
  port = 0;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const seen: Seen = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() };
        this.seen.push(seen);
        const r = this.reply(seen);
        if (r === 'hang') {
          this.hanging.add(res);
          res.on('close', () => this.hanging.delete(res));
          return;
        }
        res.writeHead(r.status, r.headers ?? {});
        res.end(r.body ?? '');
      });
    });
  }

  static async start(): Promise<Upstream> {
    const u = new Upstream();
    await new Promise<void>((resolve) => u.server.listen(0, '127.0.0.1', resolve));
    u.port = (u.server.address() as AddressInfo).port;
    return u;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
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

  /** Requests the upstream has seen since `from` (an index into `seen`). */
  since(from: number): Seen[] {
    return this.seen.slice(from);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** `tools:` as the config file would say it (snake_case), parsed the way the loader parses it. */
export function toolsConfig(file: Record<string, unknown>): Record<string, ToolServiceConfig> {
  return toolsSchema.parse(file);
}

export function withTools(file: Record<string, unknown>, extra: Partial<Config> = {}): Partial<Config> {
  return { tools: toolsConfig(file), ...extra };
}
