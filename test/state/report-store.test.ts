import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BreakerStore, breakerVersion, ReportStore, RequestsStore, StateManager, telemetryBatch, ToolsStore, type LlmRequestInput, type TelemetryCursor } from '../../src/state/index.js';
import { tempDir } from '../helpers/runtime.js';

// What the reporter reads from the runtime's own state file: the rows after a telemetry cursor,
// bounded, stopping before a call still pending, with the agents they name; breakers changed since
// the last batch; how many rows are still to send. Real SQLite, written through the StateManager.

const ZERO: TelemetryCursor = { eventSeq: 0, llmRequestId: 0, toolCallId: 0 };

const call = (agentId: string, status: LlmRequestInput['status'] = 'ok'): LlmRequestInput => ({
  agentId,
  endpoint: 'chat',
  provider: 'simulated',
  model: 'gpt-4o-mini',
  stream: status === 'pending',
  status,
  httpStatus: status === 'pending' ? null : 200,
  promptTokens: 10,
  completionTokens: 5,
  costMicros: 42,
  reservedMicros: 100,
  usageSource: 'provider',
  latencyMs: 12.5,
  firstByteMs: null,
  redactions: 0,
  error: null,
  attempts: 1,
  budgets: null,
});

const toolCall = (agentId: string | null) => ({
  ts: new Date().toISOString(),
  agentId,
  service: 'crm',
  method: 'GET',
  path: '/contacts/1',
  status: 200,
  tier: 'live',
  reason: 'ok',
  detail: null,
  upstreamStatus: 200,
  latencyMs: 3,
  upstreamMs: 2,
  bytes: 10,
  redactions: 0,
  fault: false,
});

describe('ReportStore', () => {
  let state: StateManager;
  let store: ReportStore;
  let requests: RequestsStore;
  let cleanup: () => void;

  beforeEach(() => {
    const t = tempDir();
    cleanup = t.cleanup;
    state = StateManager.open(join(t.dir, 's.db'));
    store = new ReportStore(state);
    requests = new RequestsStore(state);
  });
  afterEach(async () => {
    await state.close();
    cleanup();
  });

  const register = (id: string) => state.registerAgent({ id, name: id, kind: 'external', script: null, args: [], limitMicros: null });
  const insert = async (row: LlmRequestInput) => (await state.writeSoon((tx) => requests.insert(tx, row), null)).result;

  it('reads the rows after a cursor, oldest first, with the agents they name and nothing of agents they do not', async () => {
    register('a1');
    register('a2');
    register('a3');
    const base = { eventSeq: state.lastSeq(), llmRequestId: 0, toolCallId: 0 };
    const first = await insert(call('a1'));
    const second = await insert(call('a2'));
    await new ToolsStore(state).recordCall(toolCall('a1'));
    state.record({ agentId: 'a2', type: 'agent.progress', severity: 'info', message: 'p', data: { done: 1, total: 2, unit: 'items', succeeded: null, failed: null } });

    const rows = store.after(base, 100);
    expect(rows.llmRequests.map((r) => r.id)).toEqual([first, second]);
    expect(rows.toolCalls.map((r) => r.agentId)).toEqual(['a1']);
    expect(rows.events.map((e) => e.type)).toEqual(['agent.progress']);
    expect(rows.agents.map((a) => a.id).sort()).toEqual(['a1', 'a2']);
    expect(rows.next).toEqual({ eventSeq: state.lastSeq(), llmRequestId: second, toolCallId: rows.toolCalls[0]!.id });
    expect(rows.more).toBe(false);
    // The rows are what the contract takes: a batch of them parses.
    const { next: _n, more: _m, ...kinds } = rows;
    const batch = telemetryBatch.parse({ runtime: 'rt-1', seq: 1, sentAt: new Date().toISOString(), ...kinds, breakers: [] });
    expect(batch.llmRequests).toHaveLength(2);

    // From the new cursor: nothing left.
    const after = store.after(rows.next, 100);
    expect([after.events, after.llmRequests, after.toolCalls, after.agents]).toEqual([[], [], [], []]);
    expect(after.next).toEqual(rows.next);
  });

  it('stops just before the first pending call, and sends it once it has ended', async () => {
    register('a1');
    const done1 = await insert(call('a1'));
    const pending = await insert(call('a1', 'pending'));
    const done2 = await insert(call('a1'));

    const rows = store.after(ZERO, 100);
    expect(rows.llmRequests.map((r) => r.id)).toEqual([done1]);
    expect(rows.next.llmRequestId).toBe(done1);
    // The pending row and the one after it are still to send.
    expect(store.behind({ ...rows.next, eventSeq: state.lastSeq() })).toBe(2);

    await state.writeSoon((tx) => requests.finish(tx, pending, { ...call('a1'), status: 'ok', httpStatus: 200 }), null);
    const later = store.after(rows.next, 100);
    expect(later.llmRequests.map((r) => [r.id, r.status])).toEqual([
      [pending, 'ok'],
      [done2, 'ok'],
    ]);
  });

  it('bounds each kind by the limit and says more rows wait', async () => {
    register('a1');
    for (let i = 0; i < 7; i++) await insert(call('a1'));
    for (let i = 0; i < 7; i++) state.record({ agentId: null, type: 'server.stopping', severity: 'info', message: `m${i}`, data: { reason: 'r' } });

    let cursor = ZERO;
    const ids: number[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const rows = store.after(cursor, 3);
      expect(rows.llmRequests.length).toBeLessThanOrEqual(3);
      expect(rows.events.length).toBeLessThanOrEqual(3);
      ids.push(...rows.llmRequests.map((r) => r.id));
      seqs.push(...rows.events.map((e) => e.seq));
      cursor = rows.next;
      if (!rows.more) break;
    }
    // Every row once, in order, with no gap.
    expect(ids).toEqual([...Array(7).keys()].map((i) => i + 1));
    expect(seqs).toEqual([...Array(state.lastSeq()).keys()].map((i) => i + 1));
  });

  it('counts the rows still to send', async () => {
    register('a1');
    expect(store.behind({ eventSeq: state.lastSeq(), llmRequestId: 0, toolCallId: 0 })).toBe(0);
    await insert(call('a1'));
    await insert(call('a1'));
    const tools = new ToolsStore(state);
    await tools.recordCall(toolCall(null));
    state.record({ agentId: null, type: 'server.stopping', severity: 'info', message: 'x', data: { reason: 'r' } });
    // The agent's registration, the event above; two calls; one tool call.
    expect(store.behind(ZERO)).toBe(state.lastSeq() + 2 + 1);
    expect(store.behind({ eventSeq: state.lastSeq() - 1, llmRequestId: 1, toolCallId: 1 })).toBe(2);
    expect(store.behind({ eventSeq: state.lastSeq(), llmRequestId: 2, toolCallId: 1 })).toBe(0);
  });

  it('gives the breakers whose saved state changed since what was sent', () => {
    const breakers = new BreakerStore(state);
    breakers.saveAll([
      { service: 'crm', snapshot: { state: 'CLOSED' }, tiers: {} },
      { service: 'llm:openai', snapshot: { state: 'CLOSED' }, tiers: {} },
    ]);
    const all = store.breakersChanged(new Map());
    expect(all.map((b) => b.service).sort()).toEqual(['crm', 'llm:openai']);
    const sent = new Map(all.map((b) => [b.service, breakerVersion(b)]));
    expect(store.breakersChanged(sent)).toEqual([]);

    breakers.saveAll([{ service: 'crm', snapshot: { state: 'OPEN' }, tiers: {} }]);
    // Found even when saved within the same millisecond as the row that was sent.
    expect(store.breakersChanged(sent).map((b) => [b.service, JSON.parse(b.snapshot).state])).toEqual([['crm', 'OPEN']]);
  });
});
