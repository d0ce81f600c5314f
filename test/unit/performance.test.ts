import { describe, expect, it } from 'vitest';
import { percentiles } from '../../src/core/stats.js';
import { uptimePercent } from '../../src/agents/metrics.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const ev = (type: string, s: number) => ({ type, ts: at(s) }) as { type: 'agent.started'; ts: string };

describe('uptimePercent', () => {
  it('is null before the first start, and 100 for an agent that reports from outside', () => {
    expect(uptimePercent({ status: 'starting', startedAt: null }, [], T0)).toBeNull();
    expect(uptimePercent({ status: 'running', startedAt: at(0) }, [], T0 + 5000)).toBe(100);
  });

  it('counts a run from its start to the exit or restart that ends it, up to the end of the run', () => {
    // Ran 0-60, down 60-70 (backoff), ran 70-100, ended at 100: 90 of 100 seconds.
    const crashed = [ev('agent.started', 0), ev('agent.exited', 60), ev('agent.restarting', 60), ev('agent.restarting', 70), ev('agent.started', 70), ev('agent.exited', 100)];
    expect(uptimePercent({ status: 'completed', startedAt: at(0) }, crashed, T0 + 500_000)).toBe(90);
    // Never crashed: 100, however long ago it ended.
    expect(uptimePercent({ status: 'completed', startedAt: at(0) }, [ev('agent.started', 0), ev('agent.exited', 30)], T0 + 900_000)).toBe(100);
  });

  it('keeps counting the time a restarting agent is down, and a running one is up to now', () => {
    const down = [ev('agent.started', 0), ev('agent.exited', 30), ev('agent.restarting', 30)];
    expect(uptimePercent({ status: 'restarting', startedAt: at(0) }, down, T0 + 40_000)).toBe(75);
    expect(uptimePercent({ status: 'running', startedAt: at(0) }, [...down, ev('agent.started', 40)], T0 + 50_000)).toBe(80);
    // A restart asked for (rotated secrets) ends the run at its restarting event, with no exit.
    const rotated = [ev('agent.started', 0), ev('agent.restarting', 10), ev('agent.started', 12)];
    expect(uptimePercent({ status: 'running', startedAt: at(0) }, rotated, T0 + 20_000)).toBe(90);
  });
});

describe('percentiles', () => {
  it('are nearest-rank values that were measured, or null for none', () => {
    expect(percentiles([])).toBeNull();
    expect(percentiles([7])).toEqual({ p50: 7, p95: 7, p99: 7 });
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(hundred)).toEqual({ p50: 50, p95: 95, p99: 99 });
    expect(percentiles([1.234, 2.345, 3.456])).toEqual({ p50: 2.35, p95: 3.46, p99: 3.46 });
  });
});
