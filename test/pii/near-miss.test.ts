import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NEAR_MISS_CLASSES, nearMissCorpus } from '../../scripts/bench/pii/near-miss.js';
import { runScan } from '../../src/cli/safety.js';
import { createStreamRedactor, redact, scan, type PiiType } from '../../src/domain/pii/index.js';
import { expectEqual, expectIs } from '../helpers/cheap-expect.js';

// The benchmark's near-miss-heavy records (scripts/bench/pii/near-miss.ts): what the
// engine finds is exactly the real values the generator planted, type and offsets, and none of
// the ~2.5 near-misses planted beside each (timestamps, ids, versions, SHAs, masked and
// checksum-failing numbers, IMEIs, MACs, coordinates, ISBNs, ports, handles…), so a speed-up
// that rejects near-miss shapes earlier can neither drop a finding nor add one.
const corpus = nearMissCorpus(2000, 3);
const key = (s: { start: number; end: number; type: PiiType }) => `${s.start}-${s.end} ${s.type}`;
const countByType = (spans: ReadonlyArray<{ type: string }>) => {
  const counts: Record<string, number> = {};
  for (const s of spans) counts[s.type] = (counts[s.type] ?? 0) + 1;
  return counts;
};
const overlapping = (found: ReadonlyArray<{ start: number; end: number }>, misses: ReadonlyArray<{ start: number; end: number; type: string }>) =>
  misses.filter((m) => found.some((f) => f.start < m.end && m.start < f.end));

describe('near-miss-heavy records', () => {
  it('are the size and mix the benchmark names: every real type, every near-miss class, ~2.5 near-misses a value', () => {
    const kb = Buffer.byteLength(corpus.text) / 1024;
    expect(kb).toBeGreaterThan(570);
    expect(kb).toBeLessThan(620);
    expect(corpus.records).toHaveLength(2000);
    const ratio = corpus.allMisses.length / corpus.all.length;
    expect(ratio).toBeGreaterThan(2.3);
    expect(ratio).toBeLessThan(2.7);
    const real = countByType(corpus.all);
    for (const t of ['EMAIL', 'PHONE', 'SSN', 'CREDIT_CARD', 'IBAN', 'IP_ADDRESS', 'API_KEY'] as const) expect(real[t]).toBeGreaterThan(100);
    const near = countByType(corpus.allMisses);
    for (const c of NEAR_MISS_CLASSES) expect(near[c], c).toBeGreaterThan(100);
  });

  it('scanned as one text: exactly the real values, by type and offsets, and no near-miss', () => {
    const found = scan(corpus.text);
    expect(countByType(found)).toEqual(countByType(corpus.all));
    expectEqual(found.map(key), corpus.all.map(key));
    expect(overlapping(found, corpus.allMisses)).toEqual([]);
  });

  it('other seeds too', () => {
    for (const seed of [1, 7, 11]) {
      const other = nearMissCorpus(600, seed);
      const found = scan(other.text);
      expectEqual(found.map(key), other.all.map(key), `seed ${seed}`);
      expect(overlapping(found, other.allMisses), `seed ${seed}`).toEqual([]);
    }
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
    expectEqual(lines[0]!.spans.map(key), corpus.all.map(key));
    lines.slice(1).forEach((l, i) => {
      expectIs(l.id, i);
      expectEqual(l.spans.map(key), corpus.spans[i]!.map(key));
    });
  });
});
