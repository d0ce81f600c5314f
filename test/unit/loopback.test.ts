import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientGone, Loopback, memoryConnection, onHangUp } from '../../src/server/index.js';

// HTTP over an in-memory connection (server/loopback.ts), which the Responses socket runs each
// call through: a connection behaves as a socket does for what the gateway relies on (a slow
// reader slows the writer, a close or reset reaches the other end, a hang-up is seen).

describe('memoryConnection', () => {
  it('holds a writer back while its reader is behind, and lets it on as the reader catches up', async () => {
    const [a, b] = memoryConnection();
    const chunk = Buffer.alloc(64 * 1024, 1);
    let written = 0;
    let fits = true;
    for (let i = 0; i < 64 && fits; i++) {
      fits = a.write(chunk);
      written += chunk.length;
    }
    // Not all 4 MiB were taken while nobody read: the writer was told to wait.
    expect(fits).toBe(false);
    expect(written).toBeLessThan(4 * 1024 * 1024);
    const drained = once(a, 'drain');
    let read = 0;
    b.on('data', (c: Buffer) => (read += c.length));
    await drained;
    expect(read).toBeGreaterThan(0);
    a.end();
    await once(b, 'end');
    expect(read).toBe(written);
  });

  it('carries an end to the other side, and a reset to both', async () => {
    const [a, b] = memoryConnection();
    b.resume();
    a.end();
    await once(b, 'end');
    const [c, d] = memoryConnection();
    const closed = once(d, 'close');
    c.destroy();
    await closed;
    expect(d.destroyed).toBe(true);
  });
});

describe('Loopback', () => {
  it('answers a request through the listener, and tells the listener when its caller hangs up', async () => {
    let hungUp: (() => void) | null = null;
    const saw = new Promise<boolean>((resolve) => (hungUp = () => resolve(true)));
    let gone: { req: IncomingMessage; res: ServerResponse } | null = null;
    const lo = new Loopback((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        if (req.url === '/echo') {
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ method: req.method, body, auth: req.headers.authorization }));
        }
        // A stream that never ends on its own: only a hang-up ends it.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {}\n\n');
        gone = { req, res };
        onHangUp(req, res, () => hungUp!());
      });
    });
    const { answer } = lo.request({ method: 'POST', path: '/echo', headers: { authorization: 'Bearer t' }, body: '{"a":1}' });
    const res = await answer;
    let text = '';
    for await (const c of res) text += c;
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(text)).toEqual({ method: 'POST', body: '{"a":1}', auth: 'Bearer t' });

    const open = lo.request({ method: 'POST', path: '/stream', headers: {}, body: '' });
    const streamed = await open.answer;
    await once(streamed, 'data');
    expect(clientGone(gone!.req, gone!.res)).toBe(false);
    open.req.destroy();
    expect(await saw).toBe(true);
    expect(clientGone(gone!.req, gone!.res)).toBe(true);
  });
});
