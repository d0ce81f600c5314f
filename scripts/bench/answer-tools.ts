// Tool policies on the tool calls in models' answers (`match.llm_tool`): what they add
// to an answer whose tool call no rule refuses. Two runtimes on the simulated provider, one with
// no policies and one with rules on `Bash` (a deny and an approve on its command), asked the same
// requests in alternating rounds: a `Bash ls -la` call (its name matches, so a stream holds it
// until its arguments are whole and the rules have read them) and a `Read` call (no rule names
// it: nothing is held). Latency to the answer's last byte, one request at a time, keep-alive.
// On a busy machine that latency drifts by more than the hold could add, so the hold's own work
// is also timed alone: a stream's events through HeldCalls and its wire's reader, per answer.
// Run: npm run build && node scripts/bench/run.mjs answer-tools
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { policiesSchema, policySet } from '../../src/config/policies.js';
import { createLogger } from '../../src/core/logger.js';
import { Runtime } from '../../src/runtime/index.js';
import { SseSplitter } from '../../src/core/sse.js';
import { HeldCalls } from '../../src/gateway/held-calls.js';
import { WIRE_OF } from '../../src/gateway/wire/wires.js';
import { fmt, percentile, report, type Row } from './lib.js';

const ROUNDS = 5;
const PER_ROUND = 150;
const WARMUP = 200;
/** What "no added latency worth measuring" is held to: the p50 an answer gains. */
const TARGET_US = 100;

const RULES = [
  { name: 'no-push', match: { llm_tool: ['Bash', 'shell'], args: { command: { matches: String.raw`\bgit\s+push\b` } } }, action: 'deny' },
  { name: 'wipe', match: { llm_tool: 'Bash', args: { command: { contains: 'rm -rf' } } }, action: 'approve' },
];

async function start(policies: Config['policies']): Promise<{ url: string; token: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'iron-bench-'));
  const rt = await Runtime.start({
    config: { ...DEFAULTS, port: 0, db: join(dir, 'bench.db'), policies },
    logger: createLogger({ format: 'json', level: 'warn', stream: new Writable({ write: (_c, _e, cb) => cb() }) }),
  });
  const r = await request(`${rt.url}/api/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${rt.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ role: 'agent', name: 'bench', budgetUsd: null }),
  });
  const { token } = (await r.body.json()) as { token: string };
  return {
    url: rt.url,
    token,
    stop: async () => {
      await rt.shutdown('bench done');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const params = (value: string) => ({ type: 'object', properties: { command: { type: 'string', enum: [value] } }, required: ['command'] });
type Wire = 'chat' | 'responses' | 'messages';

/** A request whose answer is one call of `tool` with `command`. */
function body(wire: Wire, tool: string, stream: boolean): { path: string; body: string } {
  const prompt = `Use ${tool} to do it.`;
  const p = params('ls -la');
  if (wire === 'chat')
    return {
      path: '/v1/chat/completions',
      body: JSON.stringify({ model: 'gpt-4o-mini', stream, tools: [{ type: 'function', function: { name: tool, parameters: p } }], messages: [{ role: 'user', content: prompt }] }),
    };
  if (wire === 'responses') return { path: '/v1/responses', body: JSON.stringify({ model: 'gpt-4o-mini', stream, tools: [{ type: 'function', name: tool, parameters: p }], input: prompt }) };
  return {
    path: '/v1/messages',
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 512, stream, tools: [{ name: tool, input_schema: p }], messages: [{ role: 'user', content: prompt }] }),
  };
}

async function once(gw: { url: string; token: string }, b: { path: string; body: string }): Promise<number> {
  const t0 = performance.now();
  const r = await request(`${gw.url}${b.path}`, { method: 'POST', headers: { authorization: `Bearer ${gw.token}`, 'x-api-key': gw.token, 'content-type': 'application/json' }, body: b.body });
  const text = await r.body.text();
  const ms = performance.now() - t0;
  if (r.statusCode !== 200 || !text.includes('"command')) throw new Error(`${b.path} answered ${r.statusCode} without the call: ${text.slice(0, 300)}`);
  return ms;
}

/** Microseconds of CPU the hold spends on one streamed answer (its events as `gw` streamed them), the rules' walk aside. */
async function holdCost(gw: { url: string; token: string }, wire: Wire, tool: string): Promise<number> {
  const b = body(wire, tool, true);
  const r = await request(`${gw.url}${b.path}`, { method: 'POST', headers: { authorization: `Bearer ${gw.token}`, 'x-api-key': gw.token, 'content-type': 'application/json' }, body: b.body });
  const events = new SseSplitter().pushAll([Buffer.from(await r.body.text())]);
  const endpoint = wire === 'chat' ? 'chat' : wire;
  const policy = { watchesAnswers: true, holdsAnswerCall: (_a: string, _m: string, name: string) => name === 'Bash', answerCall: () => null };
  const call = { agentId: 'a', target: { model: 'm' } } as never;
  const run = () => {
    const held = new HeldCalls(policy, call, WIRE_OF[endpoint].toolStream(endpoint)!, new AbortController().signal);
    let n = 0;
    for (const ev of events) n += held.push(ev).length;
    n += held.end().length;
    if (n < events.length) throw new Error('the hold kept events back');
  };
  for (let i = 0; i < 2000; i++) run();
  // CPU time, not wall time: on a shared machine the wall clock counts other processes' turns too.
  const N = 20_000;
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) run();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / N;
}

async function main(): Promise<void> {
  const plain = await start(policySet(undefined));
  const ruled = await start(policySet(policiesSchema.parse(RULES)));
  const rows: Row[] = [];
  const results: Record<string, unknown> = {};
  try {
    for (const wire of ['chat', 'responses', 'messages'] as const)
      for (const stream of [false, true])
        for (const tool of ['Bash', 'Read']) {
          const b = body(wire, tool, stream);
          for (let i = 0; i < WARMUP; i++) await once(i % 2 ? plain : ruled, b);
          const times = { plain: [] as number[], ruled: [] as number[] };
          /** Each round's p50 with rules less its p50 without (µs): the machine's own drift shows as their spread. */
          const added: number[] = [];
          for (let round = 0; round < ROUNDS; round++) {
            const p50 = { plain: 0, ruled: 0 };
            for (const side of round % 2 === 0 ? (['plain', 'ruled'] as const) : (['ruled', 'plain'] as const)) {
              const t: number[] = [];
              for (let i = 0; i < PER_ROUND; i++) t.push(await once(side === 'plain' ? plain : ruled, b));
              times[side].push(...t);
              p50[side] = percentile(
                t.sort((x, y) => x - y),
                50,
              );
            }
            added.push((p50.ruled - p50.plain) * 1000);
          }
          times.plain.sort((x, y) => x - y);
          times.ruled.sort((x, y) => x - y);
          added.sort((x, y) => x - y);
          const mid = added[Math.floor(added.length / 2)]!;
          const name = `${wire} ${stream ? 'stream' : 'whole'}, ${tool === 'Bash' ? 'Bash ls -la (rules read it)' : 'Read (no rule names it)'}`;
          results[name] = {
            plainP50Ms: percentile(times.plain, 50),
            ruledP50Ms: percentile(times.ruled, 50),
            plainP99Ms: percentile(times.plain, 99),
            ruledP99Ms: percentile(times.ruled, 99),
            addedUsByRound: added,
          };
          rows.push({
            metric: `${name}: p50 without → with rules; added, median of ${ROUNDS} rounds [range]`,
            value: `${fmt(percentile(times.plain, 50), 3)} → ${fmt(percentile(times.ruled, 50), 3)} ms; ${mid >= 0 ? '+' : ''}${fmt(mid, 0)} µs [${fmt(added[0]!, 0)}, ${fmt(added.at(-1)!, 0)}]`,
            target: `< ${TARGET_US} µs`,
            ok: mid < TARGET_US,
          });
        }
    for (const wire of ['chat', 'responses', 'messages'] as const)
      for (const tool of ['Bash', 'Read']) {
        const us = await holdCost(plain, wire, tool);
        results[`hold ${wire} ${tool}`] = { us };
        rows.push({ metric: `the hold's own CPU per streamed answer, ${wire}, ${tool === 'Bash' ? 'a call it holds until whole' : 'a call no rule names'}`, value: `${fmt(us, 1)} µs` });
      }
  } finally {
    await plain.stop();
    await ruled.stop();
  }
  report('answer-tools', 'Tool policies on answers: latency a passing tool call gains', rows, { results });
}

await main();
