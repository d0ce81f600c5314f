import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/index.js';
import { CODEX_CLI as CODEX, installedAgent } from '../helpers/agents.js';
import { ledgerOf } from '../helpers/responses.js';
import { agentToken, startTestRuntime, tempDir, type TestRuntime } from '../helpers/runtime.js';

// The real Codex CLI (npm @openai/codex 0.169.0, installed by the test into the agents' cache)
// against a real runtime on the simulated provider, with a provider that says it takes
// WebSockets: Codex opens the Responses API over a socket (a warm-up, then the turn continuing
// it), and the cage serves it with no failed connect and no fall-back to HTTP.

let t: TestRuntime;
let codex: string;
const home = tempDir('iron-cage-codex-');

beforeAll(async () => {
  const dir = await installedAgent(CODEX.name, CODEX.version);
  codex = join(dir, 'node_modules', CODEX.name, 'bin', 'codex.js');
  t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway, providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 0, chunkDelayMs: 0, failures: [] } } } } });
}, 600_000);
afterAll(async () => {
  await t?.stop();
  home.cleanup();
});

/** `codex exec` with the cage as its model provider, run as a user would: its output and exit code. */
async function exec(token: string, prompt: string): Promise<{ code: number; out: string }> {
  const codexHome = join(home.dir, `home-${Math.random().toString(36).slice(2, 8)}`);
  const work = join(codexHome, 'work');
  mkdirSync(work, { recursive: true });
  const provider = `model_providers.cage={name="cage",base_url="${t.rt.url}/v1",env_key="CAGE_TOKEN",wire_api="responses",supports_websockets=true,stream_max_retries=1,request_max_retries=0}`;
  const args = [codex, 'exec', '--skip-git-repo-check', '-m', 'gpt-4o', '-c', provider, '-c', 'model_provider=cage', '-c', 'analytics.enabled=false', prompt];
  const env = { PATH: process.env.PATH, HOME: codexHome, CODEX_HOME: codexHome, CAGE_TOKEN: token, RUST_LOG: 'codex_api=info' };
  // stdin closed: `codex exec` reads a piped stdin into its prompt, and would wait on an open one.
  const child = spawn(process.execPath, args, { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c));
  child.stderr.on('data', (c: Buffer) => (out += c));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  return { code: code ?? -1, out: signal ? `${out}\n(killed by ${signal})` : out };
}

/** The cage's log lines that say something went wrong (the simulated provider's notice aside: no key is configured, by design). */
const troubles = (log: string) => log.split('\n').filter((l) => / (ERROR|WARN) /.test(l) && !l.includes('answered by the built-in SIMULATED provider'));

describe('Codex CLI 0.169.0 through the cage’s Responses socket', () => {
  it('runs a turn over the WebSocket: no failed connect, no fall-back, every call in the ledger', { timeout: 180_000 }, async () => {
    const a = await agentToken(t);
    const { code, out } = await exec(a.token, 'Repeat exactly: hello through the socket');
    expect(code, out).toBe(0);
    expect(out).toContain('hello through the socket');
    expect(out).not.toMatch(/Reconnecting|falling back|failed to connect/i);
    expect(t.log()).toContain(`Responses socket opened by agent ${a.agentId}`);
    expect(troubles(t.log())).toEqual([]);
    // The warm-up is answered by the cage (no row); the turn is one metered, streamed call.
    const rows = ledgerOf(t, a.agentId);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r).toMatchObject({ endpoint: 'responses', status: 'ok' });
    expect(rows.every((r) => r.cost_micros > 0)).toBe(true);
  });

  it('hears a budget refusal as the 402 it is, with the cage’s message; nothing is sent or charged', { timeout: 180_000 }, async () => {
    // Codex retries any status it has no rule for (402 among them) on either transport, then
    // prints the last answer: each retry is refused at once, before anything is reserved.
    const poor = await agentToken(t, { budgetUsd: 0.000001 });
    const { code, out } = await exec(poor.token, 'Repeat exactly: too dear');
    expect(code).not.toBe(0);
    expect(out).toContain('402 Payment Required');
    expect(out).toContain(`the budget of $0.000001 for agent ${poor.agentId} would be exceeded`);
    expect(ledgerOf(t, poor.agentId)).toHaveLength(0);
    const spent = await (await t.api(`/api/agents/${poor.agentId}/costs`)).json();
    expect(spent.spentUsd).toBe(0);
  });
});
