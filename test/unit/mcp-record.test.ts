import { describe, expect, it } from 'vitest';
import { StepMarks } from '../../src/budget/index.js';
import type { Logger } from '../../src/core/logger.js';
import { type McpCall, McpRecorder } from '../../src/mcp/record.js';
import type { StateManager, ToolsStore } from '../../src/state/index.js';

// An MCP tools/call's row may commit up to 50 ms after its answer (Writer.later): the chain of the
// agent's next LLM call is marked as the call is recorded, not when the row lands, or an agent
// quicker than that commit starts its next call unmarked (test/mcp/mcp.test.ts drives it end to
// end; here the row never lands at all, so no timing decides).

const call = (over: Partial<McpCall> = {}): McpCall => ({
  server: 'web',
  tool: 'echo',
  agentId: 'agent-1',
  argsBytes: 10,
  resultBytes: 20,
  redactions: 0,
  upstreamMs: 1,
  isError: false,
  status: 'ok',
  reason: 'ok',
  detail: null,
  costMicros: 0,
  t0: performance.now(),
  headers: {},
  sessionId: 's',
  ...over,
});

function recorder() {
  const observed: unknown[] = [];
  const marks = new StepMarks({ progressOf: () => null });
  // A store whose write never commits: the row is still waiting when the next LLM call starts.
  const store = { recordCall: () => new Promise<number>(() => {}) } as unknown as ToolsStore;
  const state = { record: () => {} } as unknown as StateManager;
  const logger = { error: () => {} } as unknown as Logger;
  const r = new McpRecorder(state, store, logger, { toolCall: (c) => observed.push(c) }, (t) => t, marks);
  return { r, marks, observed };
}

describe('McpRecorder and the chain of the next LLM call', () => {
  it('marks the server as the chain before the call’s row is written, once', () => {
    const { r, marks, observed } = recorder();
    r.record(call());
    expect(observed).toEqual([]);
    expect(marks.mark('agent-1', { messages: [] })).toEqual({ step: null, chain: 'web' });
    // Used up by that call: the one after it is not charged to the tool again.
    expect(marks.mark('agent-1', { messages: [] })).toEqual({ step: null, chain: null });
  });

  it('marks a refused or failed call too, as the tool proxy marks its rows whatever their outcome', () => {
    const { r, marks } = recorder();
    r.record(call({ status: 'refused', reason: 'not_allowed', detail: 'denied' }));
    expect(marks.mark('agent-1', { messages: [] }).chain).toBe('web');
    r.record(call({ server: 'files', status: 'error', reason: 'timeout', detail: 'slow' }));
    expect(marks.mark('agent-1', { messages: [] }).chain).toBe('files');
  });
});
