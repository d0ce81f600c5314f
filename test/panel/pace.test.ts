import { describe, expect, it } from 'vitest';
import { Pace, PACE_FROM } from '../../src/panel/telemetry.routes.js';

// The panel's back-pressure on its runtimes: past PACE_FROM batches in flight on
// average it asks each runtime it answers to wait before its next batch, longer the busier it is,
// never past 5 s; once it keeps up again it asks nothing.

describe('the pace a busy panel asks of its runtimes', () => {
  it('asks nothing while it keeps up, a second a PACE_FROM in flight when busy (5 s at most), and nothing again once the load is gone', () => {
    const p = new Pace();
    for (let i = 0; i < 200; i++) {
      p.start();
      p.end();
    }
    expect(p.ms).toBeUndefined();
    // Sixty batches stuck in flight: the average climbs past PACE_FROM.
    for (let i = 0; i < 60; i++) p.start();
    const busy = p.ms!;
    expect(busy).toBeGreaterThan(1_000);
    expect(busy).toBeLessThanOrEqual(5_000);
    for (let i = 0; i < 200; i++) p.start();
    expect(p.ms).toBe(5_000);
    for (let i = 0; i < 260; i++) p.end();
    // The average follows the load down as batches come one at a time again.
    for (let i = 0; i < 200; i++) {
      p.start();
      p.end();
    }
    expect(p.ms).toBeUndefined();
    expect(PACE_FROM).toBeGreaterThan(1);
  });
});
