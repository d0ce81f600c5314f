import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runRedact, runScan } from '../../src/cli/safety.js';
import { scan } from '../../src/domain/pii/index.js';
import { ROOT } from '../helpers/runtime.js';

async function run(command: typeof runRedact | typeof runScan, chunks: Array<string | Buffer>, opts: Record<string, unknown> = {}): Promise<{ code: number; out: string; err: string }> {
  const output = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  output.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const code = await command(Readable.from(chunks), output, { json: false, ...opts, stderr } as never);
  return { code, out: Buffer.concat(out).toString('utf8'), err: Buffer.concat(err).toString('utf8') };
}

const notes = 'Met Dana today.\nContact ceo@acme.com or (555) 123-4567.\n\nSSN 123-45-6789, nothing else.\n';

describe('iron-cage redact', () => {
  it('redacts stdin to stdout', async () => {
    const r = await run(runRedact, [Buffer.from(notes)]);
    expect(r).toEqual({
      code: 0,
      out: 'Met Dana today.\nContact [EMAIL_REDACTED] or [PHONE_REDACTED].\n\nSSN [SSN_REDACTED], nothing else.\n',
      err: '',
    });
  });

  it('catches values and multi-byte characters split across input chunks', async () => {
    const bytes = Buffer.from('Grüße an josé@correo.es — 555-123-4567');
    const chunks = [bytes.subarray(0, 3), bytes.subarray(3, 17), bytes.subarray(17, 30), bytes.subarray(30)];
    const r = await run(runRedact, chunks);
    expect(r.out).toBe('Grüße an [EMAIL_REDACTED] — [PHONE_REDACTED]');
  });

  it('stops with exit code 1 when a type is in block mode', async () => {
    const r = await run(runRedact, [notes], { policy: { mode: 'redact', perType: { SSN: 'block' } } });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/stopped: SSN at offset \d+ and the safety mode for SSN is block/);
    expect(r.out).not.toContain('123-45-6789');
  });

  it('refuses invalid UTF-8 and binary input with one clear line and exit code 2', async () => {
    for (const input of [Buffer.from([0x48, 0x69, 0xff, 0xfe, 0x0a]), Buffer.from('PK\u0003\u0004\u0000\u0000binary')]) {
      const r = await run(runRedact, [input]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^iron-cage redact: input (is not valid UTF-8|contains a NUL byte)/);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });

  it('refuses a folder as stdin (Node reads one as no input: `redact < /etc` printed nothing and exited 0)', () => {
    const folder = openSync(ROOT, 'r');
    try {
      const r = spawnSync(process.execPath, [join(ROOT, 'bin/iron-cage.js'), 'redact'], { stdio: [folder, 'pipe', 'pipe'], encoding: 'utf8', timeout: 20_000 });
      expect({ code: r.status, out: r.stdout, err: r.stderr }).toEqual({
        code: 2,
        out: '',
        err: 'iron-cage redact: input is a directory, not text (stdin): give a file, e.g. iron-cage redact < notes.txt\n',
      });
    } finally {
      closeSync(folder);
    }
  });

  it('reports bad options as exit code 2, not a crash', async () => {
    const r = await run(runRedact, ['x'], { types: ['NAME'] });
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown PII type 'NAME'");
  });
});

describe('iron-cage scan --json', () => {
  it('prints one JSON line per input line with spans, echoing id for {"id","text"} lines', async () => {
    const input = ['Contact ceo@acme.com', '{"id":"lead-67","text":"Call +44 20 7946 0958"}', '', 'nothing here', '{"not":"a text record"}'].join('\n');
    const r = await run(runScan, [input], { json: true });
    expect(r.code).toBe(0);
    expect(
      r.out
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { spans: [{ start: 8, end: 20, type: 'EMAIL', risk: 'HIGH' }] },
      { id: 'lead-67', spans: [{ start: 5, end: 21, type: 'PHONE', risk: 'MEDIUM' }] },
      { spans: [] },
      { spans: [] },
      { spans: [] },
    ]);
  });

  it('writes each line as JSON.stringify would, whatever the id', async () => {
    const text = 'Mail ceo@acme.com, call +44 20 7946 0958, card 4111 1111 1111 1111';
    const ids: unknown[] = [7, 'lead "7" é\u2028', null, { crm: [1, 'a'] }, true, 1.5e300];
    const lines = [...ids.map((id) => JSON.stringify({ id, text })), JSON.stringify({ text }), text];
    const r = await run(runScan, [`${lines.join('\n')}\n`], { json: true });
    const spans = scan(text).map((d) => ({ start: d.start, end: d.end, type: d.type, risk: d.risk }));
    expect(spans).toHaveLength(3);
    const expected = [...ids.map((id) => JSON.stringify({ id, spans })), JSON.stringify({ spans }), JSON.stringify({ spans })];
    expect(r.out).toBe(`${expected.join('\n')}\n`);
  });

  it('reads records written without escapes as JSON.parse reads them, and every other line as before', async () => {
    const text = 'call +44 20 7946 0958 or mail ceo@acme.com';
    // Read off the line: string and integer ids, as JSON.stringify writes them.
    const plain = [0, -12, 123456789012345, '', 'lead 7 é', 'ünïcode id'].map((id) => JSON.stringify({ id, text }));
    // Left to JSON.parse or read as text: escapes, other layouts, ids it would read otherwise.
    const others = [
      JSON.stringify({ id: 'a"b', text }),
      JSON.stringify({ id: 1, text: `${text}\n"quoted"` }),
      JSON.stringify({ text, id: 2 }),
      `{"id": 3, "text": "${text}"}`,
      `{"id":1234567890123456789,"text":"${text}"}`,
      `{"id":-0,"text":"${text}"}`,
      `{"id":01,"text":"${text}"}`,
      `{"id":4,"text":"${text}","text":"${text} again 030/1234567"}`,
      `{"id":5,"text":"tab\there ${text}"}`,
    ];
    const lines = [...plain, ...others];
    const r = await run(runScan, [`${lines.join('\n')}\n`], { json: true });
    const expected = lines.map((line) => {
      let input: { id?: unknown; text: string } = { text: line };
      try {
        const value = JSON.parse(line) as { id?: unknown; text: string };
        input = value;
      } catch {
        // scanned as written
      }
      const spans = scan(input.text).map((d) => ({ start: d.start, end: d.end, type: d.type, risk: d.risk }));
      expect(spans.length).toBeGreaterThan(0);
      return JSON.stringify(input.id === undefined ? { spans } : { id: input.id, spans });
    });
    expect(r.out).toBe(`${expected.join('\n')}\n`);
  });

  it('writes results longer than its output buffer, and every id, as JSON.stringify would', async () => {
    // One record with ~2,600 findings (~150 KB of results: more than the 64 KB the writer starts
    // with), offsets of six digits, and ids JSON.stringify escapes (a lone surrogate) or not.
    const long = Array.from({ length: 2600 }, (_, i) => `user${i}@example.com and some words in between`).join(' ');
    const text = 'Mail ceo@acme.com, call +44 20 7946 0958';
    const records = [
      { id: 'long', text: long },
      { id: 'x\ud800y', text },
      { id: '😀 ☎', text },
      { id: 9007199254740991, text },
      { id: 42, text: `\u0000-free but "quoted"\n${text}` },
    ];
    const lines = records.map((r) => JSON.stringify(r));
    const bytes = Buffer.from(`${lines.join('\n')}\n`);
    // In odd-sized chunks, so lines and multi-byte characters cross them.
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 4093) chunks.push(bytes.subarray(at, at + 4093));
    const r = await run(runScan, chunks, { json: true });
    const expected = records.map(({ id, text: t }) => JSON.stringify({ id, spans: scan(t).map((d) => ({ start: d.start, end: d.end, type: d.type, risk: d.risk })) }));
    expect(JSON.parse(expected[0]!).spans).toHaveLength(2600);
    expect(expected[0]!.length).toBeGreaterThan(128 * 1024);
    expect(r.out).toBe(`${expected.join('\n')}\n`);
  });

  it('refuses a NUL byte with exit code 2, in bytes and in text', async () => {
    const bytes = await run(runScan, [Buffer.from('ok line\n'), Buffer.from('bin\u0000ary\n')], { json: true });
    expect(bytes.code).toBe(2);
    expect(bytes.err).toBe('iron-cage scan: input contains a NUL byte near byte 16: it looks binary, not text\n');
    expect(bytes.out).toBe('{"spans":[]}\n');
    const text = await run(runScan, ['ok line\n', 'bin\u0000ary\n'], { json: true });
    expect(text.code).toBe(2);
    expect(text.err).toBe('iron-cage scan: input contains a NUL byte near byte 0: it looks binary, not text\n');
    expect(text.out).toBe('{"spans":[]}\n');
  });

  it('keeps line offsets exact across chunk boundaries and CRLF line ends', async () => {
    const r = await run(runScan, ['ip 10.0', '.0.1\r\nmail a@b', '.io\r\n'], { json: true });
    expect(
      r.out
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([{ spans: [{ start: 3, end: 11, type: 'IP_ADDRESS', risk: 'LOW' }] }, { spans: [{ start: 5, end: 11, type: 'EMAIL', risk: 'HIGH' }] }]);
  });

  it('without --json prints one readable line per finding', async () => {
    const r = await run(runScan, [notes], { json: false });
    expect(r.out).toBe('2:8-20 EMAIL HIGH\n2:24-38 PHONE MEDIUM\n4:4-15 SSN HIGH\n');
  });

  it('refuses a line longer than the limit instead of holding it', async () => {
    const r = await run(runScan, ['short\n', 'x'.repeat(5000), 'y'.repeat(5000), '\n'], { json: true, maxLineLength: 8000 });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/line 2 is longer than 8000 characters/);
    expect(r.out).toBe('{"spans":[]}\n');
  });

  it('scans a 10 MB single line', async () => {
    const line = `${'status=ok latency=35ms '.repeat(450_000)}ceo@acme.com`;
    const r = await run(runScan, [line], { json: true });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).spans).toEqual([{ start: line.length - 12, end: line.length, type: 'EMAIL', risk: 'HIGH' }]);
  });

  it('refuses invalid UTF-8 with exit code 2', async () => {
    const r = await run(runScan, [Buffer.from([0xc3, 0x28])], { json: true });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^iron-cage scan: input is not valid UTF-8/);
  });
});
