import { DEFAULTS, type Config } from '../../src/config/index.js';
import { createLogger } from '../../src/core/logger.js';
import { Panel } from '../../src/runtime/index.js';
import type { TelemetryBatch, TelemetryBatchInput } from '../../src/state/index.js';
import { Writable } from 'node:stream';

/** A control panel in this process on an ephemeral loopback port, its log lines kept. */
export interface TestPanel {
  panel: Panel;
  url: string;
  log: string[];
  /** An admin session opened with the start's login link, as the dashboard does. */
  admin: string;
  api(path: string, o?: { method?: string; token?: string | null; body?: unknown; raw?: string }): Promise<Response>;
  close(): Promise<void>;
}

/** `config`: over the defaults; `env`: where the panel reads IRON_CAGE_MASTER_KEY (its vault stays locked without one). */
export async function startTestPanel(database: string, config: Partial<Config> = {}, o: { env?: NodeJS.ProcessEnv } = {}): Promise<TestPanel> {
  const log: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      log.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ format: 'pretty', level: 'info', stream, color: false });
  // No drain grace unless a test asks (beside another replica a stop would wait it out for a load balancer there is none of).
  const panel = await Panel.start({ config: { ...DEFAULTS, port: 0, database, drainGraceMs: 0, ...config }, logger, env: o.env ?? {} });
  const url = panel.url;
  const api: TestPanel['api'] = (path, o = {}) =>
    fetch(`${url}${path}`, {
      method: o.method ?? (o.body !== undefined || o.raw !== undefined ? 'POST' : 'GET'),
      headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), 'content-type': 'application/json' },
      ...(o.raw !== undefined ? { body: o.raw } : o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
    });
  const link = /#login=(\S+)/.exec(panel.startLink)![1]!;
  const s = await api('/api/session', { body: { link } });
  if (s.status !== 201) throw new Error(`session: ${s.status} ${await s.text()}`);
  const admin = ((await s.json()) as { token: string }).token;
  return { panel, url, log, admin, api, close: () => panel.shutdown('test over') };
}

/** An agent row as a runtime reports it: running since `ts`, no progress, no budget of its own. */
export function agentRow(id: string, name: string, ts: string): TelemetryBatch['agents'][number] {
  return {
    id,
    name,
    kind: 'supervised',
    script: 'agent.py',
    args: '[]',
    status: 'running',
    pid: 42,
    supervisorPid: 41,
    createdAt: ts,
    startedAt: ts,
    endedAt: null,
    exitCode: null,
    exitSignal: null,
    restarts: 0,
    progressDone: 0,
    progressTotal: null,
    progressUnit: 'items',
    limitMicros: null,
    environment: 'development',
    progressSucceeded: null,
    progressFailed: null,
    paused: null,
    sandbox: null,
  };
}

/** A batch of `n` calls and `n` events of one agent, numbered from `from`, as a runtime would send it. */
export function batchOf(runtime: string, seq: number, o: { from?: number; n?: number; agentId?: string; costMicros?: number; ts?: string } = {}): TelemetryBatchInput {
  const from = o.from ?? 1;
  const n = o.n ?? 3;
  const agentId = o.agentId ?? 'lg-1';
  const ts = o.ts ?? '2026-11-23T10:15:00.000Z';
  const ids = Array.from({ length: n }, (_, i) => from + i);
  return {
    runtime,
    seq,
    sentAt: new Date().toISOString(),
    hostname: 'laptop',
    version: '0.1.0',
    agents: [{ ...agentRow(agentId, 'lead-gen', ts), progressDone: 1, progressTotal: 10, progressUnit: 'leads', limitMicros: 50_000_000 }],
    events: ids.map((seq) => ({ seq, ts, agentId, type: 'llm.request', severity: 'info', message: `call ${seq}`, data: JSON.stringify({ n: seq }) })),
    llmRequests: ids.map((id) => ({
      id,
      ts,
      agentId,
      endpoint: 'chat',
      provider: 'simulated',
      model: 'gpt-4o-mini',
      stream: false,
      status: 'ok',
      httpStatus: 200,
      promptTokens: 10,
      completionTokens: 5,
      costMicros: o.costMicros ?? 1_234,
      reservedMicros: 2_000,
      usageSource: 'provider',
      latencyMs: 12.5,
      firstByteMs: null,
      redactions: 0,
      error: null,
      attempts: 1,
    })),
  };
}
