import { describe, expect, it } from 'vitest';
import { detectInjection } from '../../src/domain/injection/index.js';

// Generous bounds for a busy 2-core test machine (this text there, loaded: 22–36 MB/s of CPU and
// 0.4–1 ms for 16 KB; 17–18 MB/s and 0.9 ms before starts.ts); the goal (20 MB/s, 2 ms p99 for
// 16 KB) is measured by scripts/bench/injection.ts.
function mixed(bytes: number): string {
  const parts = [
    JSON.stringify({ id: 1, name: 'Ana Souza', city: 'Lyon', notes: 'Customer asked to be called back after 3 pm.', tags: ['vip', 'eu'] }),
    '<html><body><h1>Pricing</h1><p>Our plans start at $9 per month. Cancel any time.</p><!-- footer --></body></html>',
    '## Install\n\nRun `npm install pkg` and import it. See the docs for options.\n',
    'Bonjour, la réunion est déplacée à jeudi. Merci de confirmer. 会议改到周四。Встреча перенесена на четверг.',
    'function add(a, b) {\n  return a + b;\n}\n',
  ];
  let s = '';
  for (let i = 0; s.length < bytes; i++) s += `${parts[i % parts.length]}\n`;
  return s.slice(0, bytes);
}

/** CPU milliseconds `fn` takes (this process's: another process's load on the cores does not count). */
function cpuMs(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const u = process.cpuUsage(t0);
  return (u.user + u.system) / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// What a test can hold on a shared machine: the detector's CPU, not the wall clock (a busy
// neighbour stretches that), and that its cost grows with the text, not faster (a regex that
// backtracks would). Its speed against the goals is the benchmark's to say.
describe('speed', () => {
  it('reads mixed tool output at ≥ 8 MB/s of its own CPU', () => {
    const text = mixed(4 << 20);
    detectInjection(text.slice(0, 100_000));
    // all of it: by default only the first 1 MiB would be read
    const ms = median([0, 1, 2].map(() => cpuMs(() => detectInjection(text, { maxLength: text.length }))));
    expect(text.length / (1 << 20) / (ms / 1000)).toBeGreaterThanOrEqual(8);
  });
  it('a 16 KB text takes < 4 ms of CPU (median of 100), and 4× the text at most 8× that', () => {
    const small = mixed(16 << 10);
    const large = mixed(64 << 10);
    for (let i = 0; i < 20; i++) detectInjection(small);
    const each = (text: string, n: number) =>
      median(
        Array.from(
          { length: 5 },
          () =>
            cpuMs(() => {
              for (let i = 0; i < n; i++) detectInjection(text);
            }) / n,
        ),
      );
    const s = each(small, 20);
    expect(s).toBeLessThan(4);
    expect(each(large, 5) / s).toBeLessThan(8);
  });
});
