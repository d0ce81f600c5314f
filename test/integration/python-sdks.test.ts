import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { sqliteOf } from '../helpers/db.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { FIXTURES, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { pythonVenv } from '../helpers/venv.js';

// Retries, open circuits and conversations through the official Python SDKs, as agents use them
// under iron-cage: real Python agents (test/fixtures/agents/py_sdk_*.py) on the examples' pinned
// `openai` and `anthropic` (the venv test/examples builds and caches), each with its SDK's default retry settings.
//
// What those SDKs do with a failed answer, read from their `_base_client.py` (openai 3.22.1,
// anthropic 1.13.0; both `max_retries=2` by default, so up to 3 requests per call):
// - `_should_retry`: `x-should-retry: false` → never retry; `true` → retry; otherwise retry 408,
//   409, 429 and every 5xx. openai also refuses to retry when `retry-after` exceeds 120 s
//   (MAX_RETRY_AFTER_DELAY).
// - `_calculate_retry_timeout`: the server's `retry-after-ms` (ms), else `retry-after` (seconds or
//   an HTTP date) when it is above 0 (openai: and at most 120 s; anthropic: any length), else
//   0.5 s × 2^n with up to 25% jitter, at most 8 s. A `retry-after: 0` means "use the backoff".
// So a 429 we pass on after retrying it ourselves must say `x-should-retry: false` (else 3 × 3
// provider requests), and a circuit-open 503 must say `retry-after` (else a retry in 0.5 s and
// another in 1 s, into the open circuit). Both are sent; nothing in src/ needed changing for them.

const SDKS = ['examples/python-openai/requirements.txt', 'examples/python-anthropic/requirements.txt'];
const agent = (name: string) => join(FIXTURES, 'agents', name);

let python: string;
beforeAll(async () => {
  // The examples' tests build the same venv: whichever runs first builds it, the other reuses it.
  const v = await pythonVenv(SDKS);
  if (!v.ok) throw new Error(`the Python SDKs' venv could not be built: ${v.reason}`);
  python = v.python;
}, 600_000);

interface Row {
  endpoint: string;
  stream: number;
  status: string;
  httpStatus: number;
  attempts: number | null;
  promptTokens: number;
  completionTokens: number;
  cost: number;
}

const ledger = (t: TestRuntime): Row[] =>
  sqliteOf(t.rt.state)
    .prepare(
      'SELECT endpoint, stream, status, http_status AS httpStatus, attempts, prompt_tokens AS promptTokens, completion_tokens AS completionTokens, cost_micros AS cost FROM llm_requests WHERE agent_id = ? ORDER BY id',
    )
    .all(t.rt.agentId) as Row[];

/** Runs `script` as the agent of a fresh runtime on `config`; its JSON lines once it has exited 0. */
async function runAgent(script: string, args: string[], config: Partial<Config>): Promise<{ t: TestRuntime; lines: any[] }> {
  const t = await startTestRuntime({ config: { ...config, python, restart: { ...DEFAULTS.restart, policy: 'never' } }, agent: { script: agent(script), args } });
  const outcome = await t.rt.agentDone!;
  const out = t.rt.state
    .lastEvents(1000, t.rt.agentId!)
    .filter((e) => e.type === 'agent.output')
    .map((e) => e.message);
  expect(outcome, out.join('\n')).toMatchObject({ status: 'completed', exitCode: 0 });
  return { t, lines: out.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)) };
}

describe('retries that do not multiply, through the Python SDKs', () => {
  const llm = useFakeLlm();
  const runtimes: TestRuntime[] = [];
  afterAll(async () => {
    for (const t of runtimes) await t.stop();
  });

  // Our 3 attempts (the default), with no backoff to wait through between them.
  const fast = { retry: { attempts: 3, baseMs: 1, maxMs: 1 } };

  it('an upstream 429 (retry-after: 0): each Python openai and anthropic call reaches iron-cage once and the provider 3 times; it raises RateLimitError', async () => {
    llm.answer({ status: 429, headers: { 'retry-after': '0' } });
    const { t, lines } = await runAgent('py_sdk_rate_limited.py', [], { gateway: llm.gateway({ anthropic: true }, fast) });
    runtimes.push(t);
    expect(lines[0]).toEqual({ max_retries: { openai: 2, anthropic: 2 } });
    const calls = lines.slice(1);
    expect(calls.map((c) => c.call)).toEqual(['openai chat', 'openai chat stream', 'anthropic messages', 'anthropic messages stream']);
    for (const c of calls) {
      // The SDK's own class for a 429, from one request: it obeyed x-should-retry: false.
      expect(c).toEqual({ call: c.call, raised: 'RateLimitError', rate_limit_error: true, status: 429, x_should_retry: 'false', retry_after: '0', requests: 1 });
    }
    // 3 provider requests per SDK call, not 9.
    const paths = llm.requests.map((r) => r.path);
    expect(paths).toEqual([...Array(6).fill('/v1/chat/completions'), ...Array(6).fill('/v1/messages')]);
    // One ledger row per SDK call (one request reached iron-cage), each saying 3 attempts, $0.
    expect(ledger(t).map((r) => [r.endpoint, r.stream, r.status, r.httpStatus, r.attempts, r.cost])).toEqual([
      ['chat', 0, 'error', 429, 3, 0],
      ['chat', 1, 'error', 429, 3, 0],
      ['messages', 0, 'error', 429, 3, 0],
      ['messages', 1, 'error', 429, 3, 0],
    ]);
  });

  // Five 503s in a row open a provider's breaker: the first call's 3 attempts, the second's 2.
  it.each(['openai', 'anthropic'])('an open circuit: Python %s waits out its retry-after rather than retrying into it', async (sdk) => {
    llm.answer({ status: 503, headers: { 'retry-after': '0' } });
    const { t, lines } = await runAgent('py_sdk_open_circuit.py', [sdk], { gateway: llm.gateway({ anthropic: true }, fast) });
    runtimes.push(t);
    const [first, second, open] = lines;
    // Retried by iron-cage: the SDK adds no retry of its own.
    expect(first).toMatchObject({ opening: 0, raised: 'InternalServerError', requests: 1, answer: { status: 503, x_should_retry: 'false' } });
    expect(second).toMatchObject({ opening: 1, raised: 'InternalServerError', requests: 1, answer: { status: 503, x_should_retry: 'false' } });
    // Refused by the open circuit, sent nowhere: the SDK may retry (no x-should-retry), but only
    // after the breaker half-opens, as retry-after says; in the window it sent nothing more.
    expect(open.answer).toMatchObject({ status: 503, x_should_retry: null });
    const wait = Number(open.answer.retry_after);
    expect(wait).toBeGreaterThan(50);
    expect(wait).toBeLessThanOrEqual(60);
    expect(open.requests).toBe(1);
    expect(open.sdk_waits_s).toEqual([wait]);
    // The gateway's side of the window: one row per request that reached it; the provider heard only the 5 that opened the circuit.
    expect(ledger(t).map((r) => [r.status, r.httpStatus, r.attempts])).toEqual([
      ['error', 503, 3],
      ['error', 503, 2],
      ['error', 503, 0],
    ]);
    expect(llm.requests).toHaveLength(5);
  });
});

describe('conversations through the Python SDKs (simulated provider)', () => {
  const config = { gateway: { ...DEFAULTS.gateway, providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 0, chunkDelayMs: 0, failures: [] } } } };
  let run: { t: TestRuntime; lines: any[] };
  beforeAll(async () => {
    run = await runAgent('py_sdk_conversations.py', [], config);
  }, 30_000);
  afterAll(() => run?.t.stop());

  /** Each turn's prompt holds the last turn's prompt and answer: the whole context was sent and counted. */
  function growing(rows: Row[]): void {
    for (let i = 1; i < rows.length; i++) {
      expect(rows[i]!.promptTokens).toBeGreaterThanOrEqual(rows[i - 1]!.promptTokens + rows[i - 1]!.completionTokens);
      expect(rows[i]!.cost).toBeGreaterThan(0);
    }
  }

  it.each(['whole', 'stream'])('openai responses.create: a previous_response_id chain of 5 (%s), each turn metered with its whole context', (chain) => {
    const turns = run.lines.filter((l) => l.chain === chain);
    expect(turns.map((l) => l.text)).toEqual(['turn 0', 'turn 1', 'turn 2', 'turn 3', 'turn 4']);
    // Each answer names the response it continued, as OpenAI's do (streamed: from response.created on).
    expect(turns[0].previous).toBeNull();
    for (let i = 1; i < 5; i++) {
      expect(turns[i].previous).toBe(turns[i - 1].id);
      if (chain === 'stream') expect(turns[i].created_previous).toBe(turns[i - 1].id);
    }
    expect(new Set(turns.map((l) => l.id)).size).toBe(5);
    const rows = ledger(run.t).filter((r) => r.endpoint === 'responses' && r.stream === (chain === 'stream' ? 1 : 0));
    expect(rows).toHaveLength(5);
    for (const r of rows) expect(r.status).toBe('ok');
    // What the SDK read as usage is what the ledger charged.
    expect(rows.map((r) => r.promptTokens)).toEqual(turns.map((l) => l.input_tokens));
    growing(rows);
  });

  it('openai responses.retrieve, input_items.list and delete', () => {
    const whole = run.lines.filter((l) => l.chain === 'whole');
    const get = (key: string) => run.lines.find((l) => key in l);
    expect(get('retrieve')).toEqual({ retrieve: whole[4].id, previous: whole[3].id, text: 'turn 4', status: 'completed' });
    // Only that turn's own input, not the chain's.
    expect(get('input_items').input_items).toEqual([{ type: 'message', role: 'user', text: 'Repeat exactly: turn 4' }]);
    // `responses.delete` returns None in Python; then the id is an OpenAI 404, and only it went.
    expect(get('deleted')).toEqual({ deleted: null });
    expect(get('after_delete')).toEqual({ after_delete: 'NotFoundError', status: 404 });
    expect(get('still_there')).toEqual({ still_there: whole[3].id, text: 'turn 3' });
  });

  it('anthropic messages: 3 turns (the second streamed), each metered with the history the agent sent', () => {
    const turns = run.lines.filter((l) => 'anthropic_turn' in l);
    expect(turns.map((l) => l.text)).toEqual(['turn 0', 'turn 1', 'turn 2']);
    const rows = ledger(run.t).filter((r) => r.endpoint === 'messages');
    expect(rows.map((r) => [r.status, r.stream])).toEqual([
      ['ok', 0],
      ['ok', 1],
      ['ok', 0],
    ]);
    expect(rows.map((r) => r.promptTokens)).toEqual(turns.map((l) => l.input_tokens));
    growing(rows);
  });
});
