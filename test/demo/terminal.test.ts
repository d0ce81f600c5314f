import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createTerminal, formatDuration, progressLine } from '../../src/demo/terminal.js';

/** A stand-in stdout: what was written, and whether it claims to be a terminal. */
function screen(isTTY: boolean) {
  let text = '';
  const out = Object.assign(
    new Writable({
      write(c: Buffer | string, _e, cb) {
        text += String(c);
        cb();
      },
    }),
    { isTTY, columns: 120 },
  );
  return { out, text: () => text };
}

describe('demo terminal', () => {
  it('draws the bar from the figures: leads, spend of the budget, ETA', () => {
    expect(progressLine({ done: 23, total: 100, spentUsd: 5.29, limitUsd: 50 }, 130_000, 10)).toBe('[##--------] 23/100 leads · $5.29 / $50.00 · ETA 2m10s');
    expect(progressLine({ done: 100, total: 100, spentUsd: 53, limitUsd: 75 }, 0, 4)).toBe('[####] 100/100 leads · $53.00 / $75.00 · done');
    expect(progressLine({ done: 0, total: 100, spentUsd: 0, limitUsd: null }, null, 4)).toBe('[----] 0/100 leads · $0.00 spent · ETA --');
    expect(formatDuration(42_400)).toBe('42s');
    expect(formatDuration(65_000)).toBe('1m05s');
  });

  it('on a terminal keeps the bar on the last line and prints every other line above it', () => {
    const s = screen(true);
    let now = 0;
    const t = createTerminal({ out: s.out, env: {}, now: () => now });
    expect(t.live).toBe(true);
    now = 10_000;
    t.progress({ done: 10, total: 100, spentUsd: 2.3, limitUsd: 50 });
    t.stream.write('[12:00:00] INFO  an event\n');
    t.close();
    const bar = '[##----------------------] 10/100 leads · $2.30 / $50.00 · ETA 1m30s';
    // Drawn, erased for the line, drawn again under it, and left as a line of its own at the end.
    expect(s.text()).toBe(`\r\x1b[2K\x1b[36m${bar}\x1b[0m\r\x1b[2K[12:00:00] INFO  an event\n\r\x1b[2K\x1b[36m${bar}\x1b[0m\r\x1b[2K${bar}\n`);
  });

  it('with --quiet, NO_COLOR or no TTY prints plain lines: a progress line per tenth of the run, no escapes', () => {
    for (const [isTTY, quiet, env] of [
      [false, false, {}],
      [true, true, {}],
      [true, false, { NO_COLOR: '1' }],
    ] as const) {
      const s = screen(isTTY);
      const t = createTerminal({ out: s.out, quiet, env });
      expect(t.live).toBe(false);
      for (let done = 1; done <= 100; done++) t.progress({ done, total: 100, spentUsd: done * 0.5, limitUsd: 50 });
      t.say('Lead 50: rotating');
      t.close();
      const lines = s.text().trimEnd().split('\n');
      expect(s.text()).not.toContain('\x1b');
      // The first lead, each tenth after it, and the last.
      expect(lines.filter((l) => l.includes(' leads · ')).map((l) => Number(/ (\d+)\/100 leads/.exec(l)![1]))).toEqual([1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
      expect(lines.at(-1)).toMatch(/^\[\d\d:\d\d:\d\d\] DEMO {2}Lead 50: rotating$/);
    }
  });
});
