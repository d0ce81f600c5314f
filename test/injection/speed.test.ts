import { describe, expect, it } from 'vitest';
import { detectInjection } from '../../src/domain/injection/index.js';

// Generous bounds for a busy 2-core test machine; the goal (20 MB/s, 2 ms p99 for 16 KB) is
// measured by scripts/bench/injection.ts.
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

describe('speed', () => {
  it('reads mixed tool output at ≥ 5 MB/s', () => {
    const text = mixed(4 << 20);
    detectInjection(text.slice(0, 100_000));
    const t0 = performance.now();
    detectInjection(text);
    const s = (performance.now() - t0) / 1000;
    expect(text.length / (1 << 20) / s).toBeGreaterThanOrEqual(5);
  });
  it('a 16 KB text takes < 10 ms at p50 and < 50 ms at p99 (other test files share the cores)', () => {
    const text = mixed(16 << 10);
    for (let i = 0; i < 50; i++) detectInjection(text);
    const times: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t0 = performance.now();
      detectInjection(text);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    expect(times[Math.floor(times.length * 0.5)]!).toBeLessThan(10);
    expect(times[Math.floor(times.length * 0.99)]!).toBeLessThan(50);
  });
});
