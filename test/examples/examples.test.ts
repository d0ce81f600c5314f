import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/runtime.js';
import { pythonVenv, type Venv } from '../helpers/venv.js';

// Each example in examples/ run as a user runs it: the built CLI, `iron-cage start <agent> --budget 1`,
// no provider key (the simulated provider answers), then its ledger read from the state file.

const CLI = join(ROOT, 'bin/iron-cage.js');

interface Example {
  dir: string;
  agent: string;
  /** The ledger's rows, in order: endpoint, model and whether the call streamed. */
  calls: Array<{ endpoint: string; model: string; stream: boolean }>;
  /** Which virtual environment it needs (none: the system python3, or Node). */
  venv?: keyof typeof VENVS;
  /** What it does: a tool round trip then a streamed answer (the default), or its own. */
  does?: 'tools' | 'traces';
}

const chat = (stream: boolean) => ({ endpoint: 'chat', model: 'gpt-4o-mini', stream });
const responses = (stream: boolean) => ({ endpoint: 'responses', model: 'gpt-4o-mini', stream });
const messages = (stream: boolean) => ({ endpoint: 'messages', model: 'claude-haiku-4-5', stream });

const VENVS = {
  sdks: ['examples/python-openai/requirements.txt', 'examples/python-anthropic/requirements.txt'],
  langchain: ['examples/python-langchain/requirements.txt', 'examples/python-langgraph/requirements.txt'],
  otel: ['examples/python-opentelemetry/requirements.txt'],
};

/** A tool call, the answer from its result, then a streamed answer (but where `does` says otherwise). */
const EXAMPLES: Example[] = [
  { dir: 'python-stdlib', agent: 'agent.py', calls: [chat(false), chat(false), chat(true)] },
  { dir: 'python-openai', agent: 'agent.py', calls: [chat(false), chat(false), chat(true)], venv: 'sdks' },
  { dir: 'python-anthropic', agent: 'agent.py', calls: [messages(false), messages(false), messages(true)], venv: 'sdks' },
  { dir: 'python-langchain', agent: 'agent.py', calls: [chat(false), chat(false), chat(true)], venv: 'langchain' },
  // stream_mode="messages" makes every model call inside the graph a streamed one.
  { dir: 'python-langgraph', agent: 'agent.py', calls: [chat(true), chat(true)], venv: 'langchain' },
  // Traces itself with OpenTelemetry (its trace is checked in test/observability/agent-trace.test.ts).
  { dir: 'python-opentelemetry', agent: 'agent.py', calls: [chat(false), chat(false), chat(false)], venv: 'otel', does: 'traces' },
  { dir: 'node-openai', agent: 'agent.mjs', calls: [chat(false), chat(false), chat(true)] },
  { dir: 'node-openai-agents', agent: 'agent.mjs', calls: [responses(false), responses(false), responses(true)] },
  { dir: 'node-langchain', agent: 'agent.mjs', calls: [chat(false), chat(false), chat(true)] },
  { dir: 'node-ai-sdk', agent: 'agent.mjs', calls: [responses(false), responses(false), responses(true)] },
];

/**
 * The LangChain and OpenTelemetry wheels need distributions the local package index may lack
 * (langchain-core 1.6.5 needs langchain-protocol; opentelemetry-sdk 1.45.0 needs
 * opentelemetry-semantic-conventions 0.66b0): then those examples are skipped, and their test
 * names say why. Anything else that stops a venv being built fails the tests that need it.
 */
const MAY_LACK_A_DISTRIBUTION: ReadonlySet<keyof typeof VENVS> = new Set(['langchain', 'otel']);

let venvs: Record<keyof typeof VENVS, Venv>;
beforeAll(async () => {
  // Built at once, side by side; each is cached after its first build (see pythonVenv).
  const [sdks, langchain, otel] = await Promise.all([pythonVenv(VENVS.sdks), pythonVenv(VENVS.langchain), pythonVenv(VENVS.otel)]);
  venvs = { sdks, langchain, otel };
}, 600_000);

function start(example: Example, python: string | null): Promise<{ code: number | null; out: string; db: string; cleanup: () => void }> {
  const { dir, cleanup } = tempDir();
  const db = join(dir, 'state.db');
  const args = [CLI, 'start', join('examples', example.dir, example.agent), '--budget', '1', '--exit', '--port', '0', '--db', db, '--restart', 'never'];
  if (python) args.push('--python', python);
  // No provider key reaches iron-cage: the built-in simulated provider answers.
  const env = { ...process.env, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '' };
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, db, cleanup })));
}

it('every folder in examples/ is tested here, and has its README.md', () => {
  const folders = readdirSync(join(ROOT, 'examples'), { withFileTypes: true }).filter((d) => d.isDirectory());
  expect(folders.map((d) => d.name).sort()).toEqual(EXAMPLES.map((e) => e.dir).sort());
  for (const e of EXAMPLES) {
    const files = readdirSync(join(ROOT, 'examples', e.dir));
    expect(files).toContain('README.md');
    expect(files).toContain(e.agent);
    if (e.agent.endsWith('.py')) expect(files).toContain('requirements.txt');
  }
});

// One at a time: each takes a few seconds alone, but several iron-cages and agents starting at
// once on a two-core machine take as long as all of them in a row, and each nears its timeout.
describe.each(EXAMPLES)('examples/$dir', (example) => {
  // A cold start of the CLI, the sandbox and the agent's interpreter with its packages: 15-30 s of
  // a 30 s limit in a loaded full run (a few seconds alone).
  it('runs under `iron-cage start`, every call on the ledger', { timeout: 90_000 }, async ({ skip }) => {
    let python: string | null = null;
    if (example.venv) {
      const v = venvs[example.venv];
      if (!v.ok && MAY_LACK_A_DISTRIBUTION.has(example.venv) && v.missing) skip(`the package index lacks ${v.missing}: ${v.reason}`);
      if (!v.ok) throw new Error(`examples/${example.dir} needs a Python venv that could not be built: ${v.reason}`);
      python = v.python;
    }
    const r = await start(example, python);
    try {
      expect(r.code, r.out).toBe(0);
      if (example.does === 'traces') {
        // Two leads qualified in their spans, then a summary of the verdicts.
        expect(r.out).toMatch(/lead: Acme Corp.* -> \S/);
        expect(r.out).toMatch(/lead: Globex.* -> \S/);
        expect(r.out).toMatch(/summary: \S/);
      } else {
        // The tool ran on the model's call and its result went back: the answer quotes it.
        expect(r.out).toMatch(/get_weather.*Paris/);
        expect(r.out).toMatch(/answer: .*\S/);
      }
      const d = new Database(r.db, { readonly: true });
      try {
        const rows = d.prepare('SELECT endpoint, model, stream, status, prompt_tokens, completion_tokens, cost_micros FROM llm_requests ORDER BY id').all() as Array<Record<string, any>>;
        expect(rows.map((x) => ({ endpoint: x.endpoint, model: x.model, stream: x.stream === 1 }))).toEqual(example.calls);
        for (const row of rows) {
          expect(row.status).toBe('ok');
          expect(row.prompt_tokens).toBeGreaterThan(0);
          expect(row.completion_tokens).toBeGreaterThan(0);
          expect(row.cost_micros).toBeGreaterThan(0);
        }
        // The call after the tool ran carries the tool's call and result: a longer prompt. (The
        // tracing agent's summary carries both verdicts.)
        if (example.does === 'traces') expect(rows[2]!.prompt_tokens).toBeGreaterThan(rows[0]!.prompt_tokens);
        else expect(rows[1]!.prompt_tokens).toBeGreaterThan(rows[0]!.prompt_tokens);
        const agent = d.prepare('SELECT status, exit_code, progress_done, progress_total, progress_unit FROM agents').get() as Record<string, any>;
        expect(agent).toMatchObject({ status: 'completed', exit_code: 0 });
        // The standard-library agent reports its progress through the Python SDK.
        if (example.dir === 'python-stdlib') expect(agent).toMatchObject({ progress_done: 3, progress_total: 3, progress_unit: 'steps' });
      } finally {
        d.close();
      }
    } finally {
      r.cleanup();
    }
  });
});
