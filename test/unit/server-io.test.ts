import { afterEach, describe, expect, it } from 'vitest';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { PayloadTooLargeError } from '../../src/core/errors.js';
import { BodyReadError, collect, readBody, sendJson } from '../../src/server/index.js';
import { serve, type TestServer } from '../helpers/http.js';

// Real sockets: what these helpers must survive (early refusal, hang-ups, half-sent answers)
// only happens on a real connection.

let server: TestServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

/** A server whose handler is `fn`; resolves with its port. */
async function listen(fn: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
  server = await serve(fn);
  return server.port;
}

/** Serve readBody's outcome back as JSON: its length and text, or the error's class, code and message. */
async function bodyEcho(limit: number, seen: Array<Buffer | Error> = []): Promise<number> {
  return listen((req, res) => {
    readBody(req, limit).then(
      (b) => {
        seen.push(b);
        sendJson(res, 200, { bytes: b.length, text: b.toString() });
      },
      (e: Error & { status?: number; code?: string; reason?: string }) => {
        seen.push(e);
        sendJson(res, e.status ?? 500, { error: e.constructor.name, code: e.code, reason: e.reason ?? null, message: e.message }, { connection: 'close' });
      },
    );
  });
}

function send(port: number, o: { method?: string; path?: string; headers?: Record<string, string | number>; chunks?: Array<string | Buffer> }): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: o.method ?? 'POST', path: o.path ?? '/', headers: o.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(parts).toString() || 'null') }));
    });
    req.on('error', reject);
    for (const c of o.chunks ?? []) req.write(c);
    req.end();
  });
}

describe('readBody', () => {
  it('reads a body whole, by Content-Length or chunked', async () => {
    const port = await bodyEcho(1024);
    const text = JSON.stringify({ hello: 'wörld' });
    const fixed = await send(port, { headers: { 'content-length': Buffer.byteLength(text) }, chunks: [text] });
    expect(fixed).toEqual({ status: 200, body: { bytes: Buffer.byteLength(text), text } });
    const chunked = await send(port, { chunks: ['abc', 'def', 'ghi'] });
    expect(chunked).toEqual({ status: 200, body: { bytes: 9, text: 'abcdefghi' } });
  });

  it('gives an empty buffer for a request that declares no body', async () => {
    const seen: Array<Buffer | Error> = [];
    const port = await bodyEcho(1024, seen);
    expect(await send(port, { method: 'GET' })).toEqual({ status: 200, body: { bytes: 0, text: '' } });
    expect(await send(port, { headers: { 'content-length': 0 } })).toEqual({ status: 200, body: { bytes: 0, text: '' } });
    expect(seen.every((b) => Buffer.isBuffer(b) && b.length === 0)).toBe(true);
    expect(seen).toHaveLength(2);
  });

  it('refuses by Content-Length before reading a byte, with the core PayloadTooLargeError', async () => {
    let listening = -1;
    const port = await listen((req, res) => {
      readBody(req, 10).catch((e: Error) => {
        listening = req.listenerCount('data');
        expect(e).toBeInstanceOf(PayloadTooLargeError);
        expect((e as PayloadTooLargeError).limit).toBe(10);
        sendJson(res, 413, { message: e.message }, { connection: 'close' });
      });
    });
    const r = await send(port, { headers: { 'content-length': 11 }, chunks: ['x'.repeat(11)] });
    expect(r).toEqual({ status: 413, body: { message: 'request body is larger than 10 bytes' } });
    expect(listening).toBe(0);
  });

  it('refuses a chunked body as soon as it passes the limit', async () => {
    const seen: Array<Buffer | Error> = [];
    const port = await bodyEcho(16, seen);
    const r = await send(port, { chunks: ['x'.repeat(10), 'y'.repeat(10)] });
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ error: 'PayloadTooLargeError', code: 'payload_too_large', message: 'request body is larger than 16 bytes' });
    expect(seen[0]).toBeInstanceOf(PayloadTooLargeError);
  });

  it('rejects with client_aborted when the client hangs up mid-body, instead of waiting forever', async () => {
    let settle!: (e: unknown) => void;
    const outcome = new Promise<unknown>((r) => (settle = r));
    const port = await listen((req) => {
      readBody(req, 1024).then(settle, settle);
    });
    const sock = connect(port, '127.0.0.1', () => {
      sock.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part of it');
      setImmediate(() => sock.destroy());
    });
    const e = await outcome;
    expect(e).toBeInstanceOf(BodyReadError);
    expect(e).toMatchObject({ reason: 'client_aborted', status: 400, code: 'invalid_request' });
  });
});

describe('collect', () => {
  it('joins a stream and refuses one past its cap', async () => {
    expect((await collect(Readable.from([Buffer.from('ab'), Buffer.from('cd')]))).toString()).toBe('abcd');
    expect((await collect(Readable.from([Buffer.from('one')]))).toString()).toBe('one');
    await expect(collect(Readable.from([Buffer.alloc(6), Buffer.alloc(6)]), 10)).rejects.toThrow(PayloadTooLargeError);
  });
});

describe('sendJson', () => {
  it('writes JSON with its length, passes strings and buffers as they are, and returns the bytes', async () => {
    const written: number[] = [];
    const port = await listen((req, res) => {
      const body = req.url === '/raw' ? '{"pre":"serialized"}' : { é: 1 };
      written.push(sendJson(res, 201, req.method === 'PUT' ? Buffer.from('[1]') : body, { 'x-extra': 'yes' }));
    });
    const get = (path: string, method = 'GET') =>
      new Promise<{ status: number; headers: Record<string, unknown>; text: string }>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path, method }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
        })
          .on('error', reject)
          .end();
      });
    const obj = await get('/');
    expect(obj.status).toBe(201);
    expect(obj.text).toBe('{"é":1}');
    expect(obj.headers).toMatchObject({ 'content-type': 'application/json', 'content-length': String(Buffer.byteLength('{"é":1}')), 'x-extra': 'yes' });
    expect((await get('/raw')).text).toBe('{"pre":"serialized"}');
    expect((await get('/', 'PUT')).text).toBe('[1]');
    expect(written).toEqual([Buffer.byteLength('{"é":1}'), 20, 3]);
  });

  it('leaves a finished answer alone and cuts a half-sent one', async () => {
    const results: number[] = [];
    const port = await listen((req, res) => {
      if (req.url === '/finished') {
        sendJson(res, 200, { first: true });
        results.push(sendJson(res, 500, { second: true }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":');
      results.push(sendJson(res, 500, { error: 'late' }));
    });
    const finished = await send(port, { method: 'GET', path: '/finished' });
    expect(finished).toEqual({ status: 200, body: { first: true } });
    // The client must see a broken connection, not a complete answer.
    await expect(
      new Promise((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: '/half' }, (res) => {
          res.on('data', () => {});
          res.on('end', () => resolve('complete'));
          res.on('error', reject);
        })
          .on('error', reject)
          .end();
      }),
    ).rejects.toThrow();
    expect(results).toEqual([0, 0]);
  });
});
