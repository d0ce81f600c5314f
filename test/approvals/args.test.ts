import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { httpArgs } from '../../src/approvals/index.js';

// Hardening, fourth round (A): a rule's `args:` conditions read a tool call's body as its upstream
// would, whatever its size, byte-order mark, charset, compression or content type; a body the
// cage cannot read is unreadable, saying why (what a rule that tests it then does:
// test/unit/policy-unreadable.test.ts; through a real runtime: test/approvals/hardening.test.ts).

const LIMIT = 5 * 1024 * 1024;
const TO = { to: 'mallory@evil.example' };

/** The arguments as the rules get them: their fields, or `{ unreadable: why }`. */
async function read(body: Buffer | string | null, headers: Record<string, string> = {}, query = ''): Promise<Record<string, unknown>> {
  const a = await httpArgs(query, typeof body === 'string' ? Buffer.from(body) : body, headers, LIMIT);
  return a.readable ? { ...(a.value as Record<string, unknown>) } : { unreadable: a.why };
}

const utf16be = (s: string): Buffer => Buffer.from(s, 'utf16le').swap16();

describe('the arguments of an HTTP tool call, read as its upstream reads them', () => {
  it('reads the whole body the proxy forwards, past 1 MB', async () => {
    const padded = JSON.stringify({ ...TO, pad: 'x'.repeat(2 * 1024 * 1024) });
    expect((await read(padded, { 'content-type': 'application/json' })).to).toBe(TO.to);
  });

  it('decodes a byte-order mark, UTF-16 and UTF-32, with or without a mark, and a declared charset', async () => {
    const json = JSON.stringify(TO);
    expect(await read(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json)]), { 'content-type': 'application/json' })).toEqual(TO);
    expect(await read(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json, 'utf16le')]), { 'content-type': 'application/json' })).toEqual(TO);
    expect(await read(Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(json)]), { 'content-type': 'application/json' })).toEqual(TO);
    // Python's json.loads(bytes) finds UTF-16 by its zero bytes, whatever the charset says.
    expect(await read(Buffer.from(json, 'utf16le'), { 'content-type': 'text/plain; charset=utf-8' })).toMatchObject(TO);
    const u32 = Buffer.alloc(json.length * 4);
    for (let i = 0; i < json.length; i++) u32.writeUInt32LE(json.charCodeAt(i), i * 4);
    expect(await read(u32, { 'content-type': 'application/json' })).toEqual(TO);
    expect(await read(Buffer.from('to=Ma%C3%B1ana', 'latin1'), { 'content-type': 'application/x-www-form-urlencoded; charset=ISO-8859-1' })).toEqual({ to: 'Mañana' });
    expect(await read(Buffer.from(json, 'utf16le'), { 'content-type': 'application/json; charset="UTF-16LE"' })).toEqual(TO);
  });

  it('undoes gzip, deflate and br, and stops at the limit', async () => {
    const json = Buffer.from(JSON.stringify(TO));
    for (const [coding, body] of [
      ['gzip', gzipSync(json)],
      ['deflate', deflateSync(json)],
      ['br', brotliCompressSync(json)],
      ['gzip, br', brotliCompressSync(gzipSync(json))],
    ] as const)
      expect(await read(body, { 'content-type': 'application/json', 'content-encoding': coding }), coding).toEqual(TO);
    const bomb = gzipSync(Buffer.alloc(LIMIT + 1, 0x20));
    expect((await read(bomb, { 'content-encoding': 'gzip' })).unreadable).toMatch(/decompresses to more than 5 MB/);
  });

  it('tries JSON whatever the content type, and reads forms, multipart forms and the query', async () => {
    expect(await read(JSON.stringify(TO), { 'content-type': 'text/plain' })).toEqual(TO);
    expect(await read(JSON.stringify(TO))).toEqual(TO);
    expect(await read(JSON.stringify(TO), { 'content-type': 'application/octet-stream' })).toEqual(TO);
    // A form-typed body an upstream may still read as JSON: either reading counts.
    expect((await read(JSON.stringify(TO), { 'content-type': 'application/x-www-form-urlencoded' })).to).toBe(TO.to);
    const b = '----form-7MA4YWxkTrZu0gW';
    const form = [
      `--${b}`,
      'Content-Disposition: form-data; name="to"',
      '',
      TO.to,
      `--${b}`,
      'Content-Disposition: form-data; name="file"; filename="list.csv"',
      'Content-Type: text/csv',
      '',
      'a,b',
      `--${b}--`,
      '',
    ].join('\r\n');
    expect(await read(form, { 'content-type': `multipart/form-data; boundary=${b}` })).toEqual({ ...TO, file: 'list.csv' });
    // A field in the body and the query is a list of both; so is a JSON key written twice.
    expect(await read('{"to":"ok@acme.example"}', { 'content-type': 'application/json' }, 'to=mallory%40evil.example')).toEqual({ to: ['ok@acme.example', TO.to] });
    expect(await read('{"to":"mallory@evil.example","to":"ok@acme.example"}', { 'content-type': 'application/json' })).toEqual({ to: [TO.to, 'ok@acme.example'] });
    expect(await read('[1,2]', { 'content-type': 'application/json' })).toEqual({ body: [1, 2] });
    expect(await read('plain words', { 'content-type': 'text/plain' })).toEqual({ body: 'plain words' });
    // Bytes that are no text, under a type that says nothing of text: no arguments, not unreadable.
    expect(await read(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0x00]), { 'content-type': 'image/png' })).toEqual({});
  });

  it('says why a body present cannot be read', async () => {
    const why = async (body: Buffer | string, headers: Record<string, string>) => (await read(body, headers)).unreadable;
    expect(await why('{"to":', { 'content-type': 'application/json' })).toMatch(/^its JSON body does not parse/);
    expect(await why('not gzip', { 'content-encoding': 'gzip' })).toBe('its gzip body does not decompress');
    expect(await why('x', { 'content-encoding': 'x-secret' })).toBe("its body's Content-Encoding x-secret is one the cage cannot undo");
    expect(await why('x', { 'content-type': 'text/plain; charset=x-klingon' })).toBe("its body's charset x-klingon is one the cage cannot read");
    // Valid JSON as UTF-8, but an upstream honouring the charset reads other text: not what the cage read.
    expect(await why(JSON.stringify(TO), { 'content-type': 'application/json; charset=utf-7' })).toBe("its body's charset utf-7 is one the cage cannot read");
    expect(await why(Buffer.from([0x7b, 0xff, 0x7d]), { 'content-type': 'text/plain' })).toBe('its body is not valid UTF-8 text');
    expect(await why('garbage', { 'content-type': 'multipart/form-data; boundary=b' })).toBe('its multipart/form-data body does not parse');
    expect(await why(`${'['.repeat(100)}${']'.repeat(100)}`, { 'content-type': 'application/json' })).toBe('its JSON body is nested deeper than 64 levels');
  });
});
