// Event path: state.record → SQLite → bus → WebSocket clients in another process.
//   1. throughput: persisted events/s delivered to one client, and the longest event-loop stall
//   2. latency: event-to-client p50/p99 with 100 clients at 200 events/s
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { benchRuntime, emitPaced, fmt, percentile, report, startClients, wallNow, wsClientsChild } from './lib.js';

if (process.argv[2] === 'clients') wsClientsChild();
else await main();

async function main() {
  const { rt, stop } = await benchRuntime();
  const wsUrl = `${rt.url.replace('http', 'ws')}/ws?token=${rt.adminToken}`;
  const rows = [];

  // 1. Throughput with one remote client, recording in slices so the loop keeps breathing.
  {
    const total = 100_000;
    const slice = 100;
    const { done } = await startClients(wsUrl, 1, total);
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const t0 = performance.now();
    let maxSliceMs = 0;
    for (let i = 0; i < total; i += slice) {
      const s0 = performance.now();
      for (let j = 0; j < slice; j++) {
        rt.state.record({ agentId: null, type: 'agent.event', severity: 'debug', message: 'bench event', data: { t: wallNow(), i: i + j } });
      }
      maxSliceMs = Math.max(maxSliceMs, performance.now() - s0);
      await new Promise((r) => setImmediate(r));
    }
    const persistedMs = performance.now() - t0;
    await done;
    const deliveredMs = performance.now() - t0;
    h.disable();
    const maxStall = h.max / 1e6;
    const persistedPerS = total / (persistedMs / 1000);
    rows.push({ metric: 'persisted events/s (state.record, WAL)', value: fmt(persistedPerS, 0), target: '≥ 20,000', ok: persistedPerS >= 20_000 });
    rows.push({ metric: 'events/s persisted and delivered to a WebSocket client', value: fmt(total / (deliveredMs / 1000), 0) });
    rows.push({ metric: 'longest event-loop stall during that run', value: `${fmt(maxStall, 1)} ms`, target: '< 20 ms', ok: maxStall < 20 });
    rows.push({ metric: `longest recording slice (${slice} events)`, value: `${fmt(maxSliceMs, 1)} ms` });
  }

  // 2. Latency: 100 clients, 200 events/s for 5 s.
  {
    const clients = 100;
    const rate = 200;
    const seconds = 5;
    const total = rate * seconds;
    const { done } = await startClients(wsUrl, clients, total);
    await emitPaced(rt, { rate, total, tickMs: 1, severity: 'debug', message: () => 'latency probe' });
    const delays = (await done).sort((a, b) => a - b);
    const p50 = percentile(delays, 50);
    const p99 = percentile(delays, 99);
    rows.push({ metric: `event→client latency p50 (${clients} clients, ${rate} ev/s)`, value: `${fmt(p50, 2)} ms` });
    rows.push({ metric: `event→client latency p99 (${clients} clients, ${rate} ev/s)`, value: `${fmt(p99, 2)} ms`, target: '< 50 ms', ok: p99 < 50 });
    rows.push({ metric: 'deliveries measured', value: fmt(delays.length, 0) });
  }

  await stop();
  report('events', 'Event path (npm run bench -- events)', rows);
  process.exit(0);
}
