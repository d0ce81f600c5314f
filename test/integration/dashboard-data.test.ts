import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startTestRuntime, tempDir, until } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

// What the dashboard's panels read besides the live feed, from a real python3 agent on the
// simulated provider: progress outcomes, the cost projection and series, performance and
// protection, live and from the database of an earlier run.

const STEADY = join(ROOT, 'test/fixtures/agents/steady_units.py');
const UNITS = 20;

const json = async (r: Response) => {
  expect(r.status, await r.clone().text()).toBe(200);
  return r.json();
};

/** Nearest-rank percentile, written out plainly to check the server's figures against. */
function nearestRank(sorted: number[], p: number): number {
  return Math.round(sorted[Math.ceil((p / 100) * sorted.length) - 1]! * 100) / 100;
}

describe('a steady agent doing identical units', () => {
  it('projects its final spend within 5% once a quarter is done, and reports outcomes, series, performance and protection, also after a restart of iron-cage', async () => {
    const { dir, cleanup } = tempDir();
    const pauseFile = join(dir, 'go');
    const t = await startTestRuntime({ dir, agent: { script: STEADY }, config: { budgetMicros: 10_000_000 }, env: { STEADY_UNITS: String(UNITS), STEADY_PAUSE_FILE: pauseFile } });
    let again: Awaited<ReturnType<typeof startTestRuntime>> | null = null;
    try {
      const id = t.rt.agentId!;
      await until(() => t.log().includes('quarter done'), 30_000);
      const status = await json(await t.api(`/api/agents/${id}/status`));
      expect(status.progress).toEqual({ done: UNITS / 4, total: UNITS, unit: 'leads', succeeded: UNITS / 4, failed: 0 });
      const atQuarter = await json(await t.api(`/api/agents/${id}/costs`));
      expect(atQuarter.projectionUsd).toBeGreaterThan(atQuarter.spentUsd);
      writeFileSync(pauseFile, '');

      expect(await t.rt.agentDone!).toEqual({ status: 'completed', exitCode: 0 });
      const costs = await json(await t.api(`/api/agents/${id}/costs`));
      expect(Math.abs(atQuarter.projectionUsd - costs.spentUsd) / costs.spentUsd).toBeLessThanOrEqual(0.05);

      // Outcomes: every 10th unit judged failed by the agent itself.
      const done = await json(await t.api(`/api/agents/${id}/status`));
      expect(done.progress).toEqual({ done: UNITS, total: UNITS, unit: 'leads', succeeded: UNITS - UNITS / 10, failed: UNITS / 10 });

      // The series: one point per charged request (a run this short), in time order, running up to the spend.
      const rows = sqliteOf(t.rt.state).prepare('SELECT ts, cost_micros AS cost, latency_ms AS ms, status FROM llm_requests WHERE agent_id = ? ORDER BY id').all(id) as Array<{
        ts: string;
        cost: number;
        ms: number;
        status: string;
      }>;
      expect(rows).toHaveLength(UNITS);
      let running = 0;
      expect(costs.series).toEqual(rows.filter((r) => r.cost > 0).map((r) => [Date.parse(r.ts), (running += r.cost) / 1_000_000]));
      // overTime: one-minute buckets, for a run this short.
      expect(costs.bucketMinutes).toBe(1);
      expect(costs.overTime.map((b: { start: string }) => Date.parse(b.start))).toEqual([...new Set(rows.map((r) => Date.parse(r.ts) - (Date.parse(r.ts) % 60_000)))]);
      expect(costs.series.at(-1)[1]).toBe(costs.spentUsd);

      // Performance from the ledger: latency over the ok requests, no tool calls, never down.
      const perf = await json(await t.api(`/api/agents/${id}/performance`));
      const latencies = rows
        .filter((r) => r.status === 'ok')
        .map((r) => r.ms)
        .sort((a, b) => a - b);
      expect(perf).toEqual({
        agentId: id,
        throughput: { perHour: expect.any(Number), unit: 'leads' },
        llm: { calls: latencies.length, latencyMs: { p50: nearestRank(latencies, 50), p95: nearestRank(latencies, 95), p99: nearestRank(latencies, 99) }, window: null },
        tools: { calls: 0, cacheHitRate: null, window: null },
        uptimePercent: 100,
      });
      expect(perf.throughput.perHour).toBeGreaterThan(0);

      // Protection: the address the agent printed was redacted; the preview shows where, never what.
      const protection = await json(await t.api(`/api/agents/${id}/protection`));
      expect(protection).toMatchObject({
        piiLeaksBlocked: 1,
        unauthorizedActions: 0,
        promptInjectionAttempts: 0,
        monitored: { pii: true, unauthorizedActions: true, promptInjection: true },
        latest: { preview: 'send the report to [EMAIL_REDACTED]', types: { EMAIL: 1 }, location: 'agent.output', ts: expect.any(String) },
      });
      expect(JSON.stringify(protection)).not.toContain('jane.doe');

      // `iron-cage serve` on the same database later: the run reads the same.
      await t.rt.shutdown('test');
      again = await startTestRuntime({ dir });
      expect(again.rt.agentId).toBeNull();
      expect(await json(await again.api(`/api/agents/${id}/costs`))).toEqual(costs);
      expect(await json(await again.api(`/api/agents/${id}/performance`))).toEqual(perf);
      expect(await json(await again.api(`/api/agents/${id}/protection`))).toEqual(protection);
      const viewer = await again.rt.tokens.issue({ role: 'viewer', name: 'v' });
      expect(await json(await again.api(`/api/agents/${id}/performance`, { token: viewer }))).toEqual(perf);
      const stranger = (await again.rt.tokens.issueRun({ name: 'other', agentId: 'ot-00000000' })).token;
      expect((await again.api(`/api/agents/${id}/performance`, { token: stranger })).status).toBe(404);
      expect((await again.api('/api/agents/xx-00000000/performance')).status).toBe(404);
    } finally {
      await again?.stop();
      await t.stop();
      cleanup();
    }
  });

  it('keeps its outcomes across a crash-restart, and its uptime shows the time it was down', async () => {
    const t = await startTestRuntime({ agent: { script: STEADY }, env: { STEADY_UNITS: '12', STEADY_CRASH_AT: '7' } });
    try {
      const id = t.rt.agentId!;
      expect(await t.rt.agentDone!).toEqual({ status: 'completed', exitCode: 0 });
      const s = await json(await t.api(`/api/agents/${id}/status`));
      expect(s).toMatchObject({ restarts: 1, progress: { done: 12, total: 12, succeeded: 11, failed: 1 } });
      const { events } = await json(await t.api(`/api/events?agentId=${id}&limit=1000`));
      // Outcomes never went back after the restart: each report has at least the one before.
      const reports = events.filter((e: any) => e.type === 'agent.progress').map((e: any) => e.data);
      for (let i = 1; i < reports.length; i++) expect(reports[i].succeeded + reports[i].failed).toBeGreaterThanOrEqual(reports[i - 1].succeeded + reports[i - 1].failed);

      // Uptime: running from each start to the exit that ended it, over first start to last exit.
      const at = (e: any) => Date.parse(e.ts);
      const starts = events.filter((e: any) => e.type === 'agent.started');
      const exits = events.filter((e: any) => e.type === 'agent.exited');
      expect(starts).toHaveLength(2);
      expect(exits).toHaveLength(2);
      const running = at(exits[0]) - at(starts[0]) + (at(exits[1]) - at(starts[1]));
      const expected = Math.round((running / (at(exits[1]) - at(starts[0]))) * 1000) / 10;
      const perf = await json(await t.api(`/api/agents/${id}/performance`));
      expect(perf.uptimePercent).toBe(expected);
      expect(perf.uptimePercent).toBeLessThan(100);
    } finally {
      await t.stop();
    }
  });
});
