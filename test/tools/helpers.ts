import { request } from 'node:http';
import type { Config } from '../../src/config/index.js';
import { type ToolServiceConfig, toolsSchema } from '../../src/config/tools.js';
import type { TestRuntime } from '../helpers/runtime.js';

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => any;
}

/**
 * A request sent exactly as written: fetch would normalise `..` and `%2e` away before they
 * ever reached the proxy, and those are the paths the proxy must refuse.
 */
export function raw(base: string, method: string, path: string, o: { headers?: Record<string, string>; body?: string | Buffer; token?: string | null } = {}): Promise<RawReply> {
  const u = new URL(base);
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.body !== undefined) headers['content-length'] = String(Buffer.byteLength(o.body));
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body) });
      });
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

export async function breakers(t: TestRuntime): Promise<Record<string, any>> {
  const r = await t.api('/api/breakers');
  const body = (await r.json()) as { services: any[] };
  return Object.fromEntries(body.services.map((s) => [s.service, s]));
}

export function eventsOf(t: TestRuntime, type: string): any[] {
  return t.rt.state.lastEvents(1000).filter((e) => e.type === type);
}

/** `tools:` as the config file would say it (snake_case), parsed the way the loader parses it. */
export function toolsConfig(file: Record<string, unknown>): Record<string, ToolServiceConfig> {
  return toolsSchema.parse(file);
}

export function withTools(file: Record<string, unknown>, extra: Partial<Config> = {}): Partial<Config> {
  return { tools: toolsConfig(file), ...extra };
}
