import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, expect, it } from 'vitest';
import { KIND, otlpReceiver, type ReceivedSpan } from '../helpers/otlp.js';
import { ROOT, tempDir } from '../helpers/runtime.js';
import { pythonVenv, type Venv } from '../helpers/venv.js';

// examples/python-opentelemetry run as a user runs it (the built CLI, `iron-cage start … --budget
// 1`, the simulated provider) with traces on: the agent traces itself with the official
// OpenTelemetry Python SDK and exports to the same collector. The two processes share nothing but
// W3C traceparents (TRACEPARENT in the agent's environment, a `traceparent` header on each call),
// and their spans make one tree.

const CLI = join(ROOT, 'bin/iron-cage.js');
const REQUIREMENTS = ['examples/python-opentelemetry/requirements.txt'];

/**
 * The OpenTelemetry SDK 1.45.0 and its OTLP/HTTP exporter need distributions a local package
 * index may lack (opentelemetry-semantic-conventions, -exporter-otlp-common and
 * -exporter-http-transport 0.66b0): then the test is skipped, and its report names the first one
 * pip found missing. Anything else that stops the venv being built fails it.
 */
let venv: Venv;
beforeAll(async () => {
  venv = await pythonVenv(REQUIREMENTS); // shared with test/examples (same requirements, same cache)
}, 600_000);

function runExample(python: string, collector: string): Promise<{ code: number | null; out: string; db: string; cleanup: () => void }> {
  const { dir, cleanup } = tempDir();
  const db = join(dir, 'state.db');
  const args = [CLI, 'start', 'examples/python-opentelemetry/agent.py', '--budget', '1', '--exit', '--port', '0', '--db', db, '--restart', 'never', '--python', python];
  // No provider key (the simulated provider answers), and no OTEL_* of the machine's but the endpoint.
  const env: NodeJS.ProcessEnv = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_'))), OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '' };
  env.OTEL_EXPORTER_OTLP_ENDPOINT = collector;
  // Reaches the agent too: the agent's service name, set in its code, still wins there.
  env.OTEL_SERVICE_NAME = 'cage-under-test';
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, db, cleanup })));
}

/** A child starts after its parent does, to the millisecond iron-cage's times are recorded to. */
function startsWithin(child: ReceivedSpan, parent: ReceivedSpan): void {
  expect(child.startMs).toBeGreaterThanOrEqual(parent.startMs - 1);
  expect(child.startMs).toBeLessThanOrEqual(parent.endMs);
}

it("the agent's own spans join iron-cage's trace by traceparent alone: run → agent's spans → iron-cage's chat spans, tokens as on the ledger", async ({ skip }) => {
  if (!venv.ok && venv.missing) skip(`the package index lacks ${venv.missing}, which the OpenTelemetry Python SDK needs: ${venv.reason}`);
  if (!venv.ok) throw new Error(`examples/python-opentelemetry needs a Python venv that could not be built: ${venv.reason}`);
  const rx = await otlpReceiver();
  const r = await runExample(venv.python, rx.url);
  try {
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/summary: \S/);
    // Both processes flushed before exiting: every span is in.
    const spans = rx.spans;
    expect(new Set(spans.map((s) => s.traceId)).size, JSON.stringify(spans.map((s) => [s.name, s.traceId]))).toBe(1);
    const cage = spans.filter((s) => s.resource['telemetry.sdk.language'] === 'nodejs');
    const agent = spans.filter((s) => s.resource['telemetry.sdk.language'] === 'python');
    expect(cage.length + agent.length).toBe(spans.length);
    expect(new Set(cage.map((s) => s.resource['service.name']))).toEqual(new Set(['cage-under-test']));
    expect(new Set(agent.map((s) => s.resource['service.name']))).toEqual(new Set(['lead-qualifier']));

    // iron-cage's run is the root.
    const run = cage.filter((s) => s.name.startsWith('invoke_agent'));
    expect(run).toHaveLength(1);
    expect(run[0]!.parentSpanId).toBe('');
    const runSpan = run[0]!;

    // The agent's root span is the run's child, its `qualify lead` spans the root's.
    expect(agent.map((s) => s.name).sort()).toEqual(['qualify lead', 'qualify lead', 'triage leads']);
    const root = agent.find((s) => s.name === 'triage leads')!;
    expect(root.parentSpanId).toBe(runSpan.spanId);
    startsWithin(root, runSpan);
    expect(root.endMs).toBeLessThanOrEqual(runSpan.endMs); // the run ends when the process has exited
    const leads = agent.filter((s) => s.name === 'qualify lead').sort((a, b) => a.startMs - b.startMs);
    expect(leads.map((s) => s.parentSpanId)).toEqual([root.spanId, root.spanId]);
    expect(leads.map((s) => s.attributes['lead.name'])).toEqual(['Acme Corp', 'Globex']);
    for (const s of agent) expect(s.kind).toBe(KIND.INTERNAL);

    // iron-cage's span for each call is the child of the span that was current in the agent
    // when it made the call: one under each lead, the summary's under the root.
    const chats = cage.filter((s) => s.attributes['gen_ai.operation.name'] === 'chat').sort((a, b) => a.startMs - b.startMs);
    expect(chats).toHaveLength(3);
    expect(cage).toHaveLength(4); // the run and its three calls, nothing else
    expect(chats.map((s) => s.parentSpanId)).toEqual([leads[0]!.spanId, leads[1]!.spanId, root.spanId]);
    // (A chat span ends once iron-cage has settled the call, which may be just after the agent,
    // answered, has ended its own span: only its start is inside its parent's time.)
    startsWithin(chats[0]!, leads[0]!);
    startsWithin(chats[1]!, leads[1]!);
    startsWithin(chats[2]!, root);

    // The GenAI attributes, tokens and cost as the ledger has them.
    const d = new Database(r.db, { readonly: true });
    try {
      const rows = d.prepare('SELECT agent_id, model, status, prompt_tokens, completion_tokens, cost_micros FROM llm_requests ORDER BY id').all() as Array<Record<string, any>>;
      expect(rows).toHaveLength(3);
      chats.forEach((s, i) => {
        const row = rows[i]!;
        expect(row.status).toBe('ok');
        expect(row.prompt_tokens).toBeGreaterThan(0);
        expect(s.name).toBe('chat gpt-4o-mini');
        expect(s.kind).toBe(KIND.CLIENT);
        expect(s.attributes).toMatchObject({
          'gen_ai.provider.name': 'simulated',
          'gen_ai.request.model': row.model,
          'gen_ai.response.model': 'gpt-4o-mini',
          'gen_ai.usage.input_tokens': row.prompt_tokens,
          'gen_ai.usage.output_tokens': row.completion_tokens,
          'iron_cage.agent.id': row.agent_id,
        });
        expect(s.attributes['iron_cage.cost.usd']).toBe(row.cost_micros / 1_000_000);
        expect(s.attributes['error.type']).toBeUndefined();
        // Joined by its header, each call still links to the run it belongs to.
        expect(s.links).toEqual([{ traceId: runSpan.traceId, spanId: runSpan.spanId, attributes: { 'iron_cage.link': 'agent_run' } }]);
      });
      const sum = (k: 'prompt_tokens' | 'completion_tokens') => rows.reduce((n, row) => n + Number(row[k]), 0);
      expect(runSpan.attributes).toMatchObject({
        'gen_ai.operation.name': 'invoke_agent',
        'gen_ai.agent.id': rows[0]!.agent_id,
        'gen_ai.usage.input_tokens': sum('prompt_tokens'),
        'gen_ai.usage.output_tokens': sum('completion_tokens'),
        'iron_cage.llm_calls': 3,
        'iron_cage.run.status': 'completed',
      });
    } finally {
      d.close();
    }
  } finally {
    r.cleanup();
    await rx.close();
  }
});
