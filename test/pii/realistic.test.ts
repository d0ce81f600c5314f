import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { realisticCorpus } from '../../scripts/bench/pii/realistic.js';
import { runScan } from '../../src/cli/safety.js';
import { createStreamRedactor, redact, scan, type PiiType } from '../../src/domain/pii/index.js';
import { expectEqual, expectIs } from '../helpers/cheap-expect.js';

// The benchmark's realistic records (scripts/bench/pii/realistic.ts): what the engine finds is
// exactly what the generator planted, type and offsets, so a speed-up cannot drop a finding.
const corpus = realisticCorpus(2000, 5);
const key = (s: { start: number; end: number; type: PiiType }) => `${s.start}-${s.end} ${s.type}`;
const countByType = (spans: ReadonlyArray<{ type: PiiType }>) => {
  const counts: Partial<Record<PiiType, number>> = {};
  for (const s of spans) counts[s.type] = (counts[s.type] ?? 0) + 1;
  return counts;
};

describe('realistic records', () => {
  it('are the size and density the benchmark names, with every type planted', () => {
    const kb = Buffer.byteLength(corpus.text) / 1024;
    expect(kb).toBeGreaterThan(560);
    expect(kb).toBeLessThan(620);
    expect(corpus.all.length / kb).toBeGreaterThan(5.5);
    expect(corpus.all.length / kb).toBeLessThan(7);
    const counts = countByType(corpus.all);
    for (const t of ['EMAIL', 'PHONE', 'SSN', 'CREDIT_CARD', 'IBAN', 'IP_ADDRESS', 'API_KEY'] as const) expect(counts[t]).toBeGreaterThan(100);
  });

  it('scanned as one text: exactly the planted values, by type and offsets', () => {
    const found = scan(corpus.text);
    expect(countByType(found)).toEqual(countByType(corpus.all));
    expectEqual(found.map(key), corpus.all.map(key));
  });

  it('scanned record by record and streamed in small chunks: the same', () => {
    corpus.records.forEach((record, i) => {
      expectEqual(scan(record).map(key), corpus.spans[i]!.map(key), record);
    });
    const text = corpus.text.slice(0, 60_000);
    const s = createStreamRedactor();
    let out = '';
    for (let i = 0; i < text.length; i += 7) out += s.push(text.slice(i, i + 7));
    expect(out + s.end()).toBe(redact(text).text);
  });

  it('through `iron-cage scan --json`, as one record and as one record per line', async () => {
    const input = [JSON.stringify({ id: 'all', text: corpus.text }), ...corpus.records.map((text, id) => JSON.stringify({ id, text }))].join('\n');
    const output = new PassThrough();
    const chunks: Buffer[] = [];
    output.on('data', (c: Buffer) => chunks.push(c));
    const code = await runScan(Readable.from([Buffer.from(input)]), output, { json: true, stderr: new PassThrough() });
    expect(code).toBe(0);
    const lines = Buffer.concat(chunks)
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: unknown; spans: Array<{ start: number; end: number; type: PiiType }> });
    expect(lines).toHaveLength(1 + corpus.records.length);
    expect(lines[0]!.id).toBe('all');
    expectEqual(lines[0]!.spans.map(key), corpus.all.map(key));
    lines.slice(1).forEach((l, i) => {
      expectIs(l.id, i);
      expectEqual(l.spans.map(key), corpus.spans[i]!.map(key));
    });
  });
});
