// The gateway benchmark's load, shared with the benchmarks that set something beside it (the
// metrics scrape): the mock upstream (its own process: the running bench file started with
// `mock`), `iron-cage serve` in front of it, and a closed-loop load with per-response timing.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { Pool } from 'undici';
import { spawnNode } from '../lib.js';

/** The build under test: this checkout's (startGateway's `cli` starts another). */
export const DEFAULT_CLI = resolve(process.cwd(), 'bin/iron-cage.js');
export const MAX_SECONDS_PER_RUN = 8;

const CHAT = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'The company looks like a strong fit for the offer. A pilot with one team is the natural first step.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 42, completion_tokens: 21, total_tokens: 63 },
});
const CHUNKS = Array.from({ length: 20 }, (_, i) =>
  Buffer.from(
    `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content: `word${i} ` }, finish_reason: i === 19 ? 'stop' : null }] })}\n\n`,
  ),
);
const USAGE_CHUNK = Buffer.from(
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 42, completion_tokens: 20, total_tokens: 62 } })}\n\n`,
);
export const REQUEST = JSON.stringify({
  model: 'gpt-4o-mini',
  max_tokens: 200,
  messages: [
    { role: 'system', content: 'You qualify B2B leads. Answer in two sentences.' },
    { role: 'user', content: 'Company: Acme Robotics, 120 employees, Series B, based in Warsaw. Products: warehouse automation. Is this a fit for an AI cost-control platform?' },
  ],
});
export const STREAM_REQUEST = JSON.stringify({ ...JSON.parse(REQUEST), stream: true });

// The same exchange on the Responses API: the same prompt, the same 20 words of output.
const WORDS = Array.from({ length: 20 }, (_, i) => `word${i} `);
const RESP_USAGE = { input_tokens: 42, input_tokens_details: { cached_tokens: 0 }, output_tokens: 20, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 62 };
const respEnvelope = (status: string, output: object[], usage: object | null) => ({
  id: 'resp_bench',
  object: 'response',
  created_at: 1,
  status,
  model: 'gpt-4o-mini',
  output,
  usage,
  error: null,
  incomplete_details: null,
});
const RESP_PART = { type: 'output_text', annotations: [], logprobs: [], text: WORDS.join('') };
const RESP_ITEM = { id: 'msg_bench', type: 'message', status: 'completed', role: 'assistant', content: [RESP_PART] };
const RESPONSE = JSON.stringify(
  respEnvelope('completed', [{ ...RESP_ITEM, content: [{ ...RESP_PART, text: JSON.parse(CHAT).choices[0].message.content }] }], { ...RESP_USAGE, output_tokens: 21, total_tokens: 63 }),
);
const RESP_EVENTS = (() => {
  const evs: Array<[string, object]> = [
    ['response.created', { response: respEnvelope('in_progress', [], null) }],
    ['response.in_progress', { response: respEnvelope('in_progress', [], null) }],
    ['response.output_item.added', { output_index: 0, item: { ...RESP_ITEM, status: 'in_progress', content: [] } }],
    ['response.content_part.added', { item_id: 'msg_bench', output_index: 0, content_index: 0, part: { ...RESP_PART, text: '' } }],
    ...WORDS.map((delta): [string, object] => ['response.output_text.delta', { item_id: 'msg_bench', output_index: 0, content_index: 0, delta, logprobs: [] }]),
    ['response.output_text.done', { item_id: 'msg_bench', output_index: 0, content_index: 0, text: RESP_PART.text, logprobs: [] }],
    ['response.content_part.done', { item_id: 'msg_bench', output_index: 0, content_index: 0, part: RESP_PART }],
    ['response.output_item.done', { output_index: 0, item: RESP_ITEM }],
    ['response.completed', { response: respEnvelope('completed', [RESP_ITEM], RESP_USAGE) }],
  ];
  const sse = evs.map(([type, data], i) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data, sequence_number: i })}\n\n`);
  // Events a server produces at the same instant leave in one write (the two that open the
  // response, the two that open the message, the four that close it): 23 writes, as chat's 23.
  return [sse.slice(0, 2), sse.slice(2, 4), ...sse.slice(4, 24).map((e) => [e]), sse.slice(24)].map((group) => Buffer.from(group.join('')));
})();
export const RESP_REQUEST = JSON.stringify({
  model: 'gpt-4o-mini',
  max_output_tokens: 200,
  instructions: JSON.parse(REQUEST).messages[0].content,
  input: [{ role: 'user', content: JSON.parse(REQUEST).messages[1].content }],
});
export const RESP_STREAM_REQUEST = JSON.stringify({ ...JSON.parse(RESP_REQUEST), stream: true });
export const RESP_STREAM_UNSTORED = JSON.stringify({ ...JSON.parse(RESP_REQUEST), stream: true, store: false });

/** The mock upstream runs in its own process, as a provider would be on its own machine. */
export async function startMock(): Promise<{ url: string; close: () => void }> {
  const child = fork(process.argv[1]!, ['mock'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve) => child.once('message', (m) => resolve(String(m))));
  return { url, close: () => child.kill() };
}

export async function serveMock(): Promise<void> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/v1/responses') return void respond(res, body.includes('"stream":true'));
      if (!body.includes('"stream":true')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(CHAT) }).end(CHAT);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const next = () => {
        if (i < CHUNKS.length) {
          res.write(CHUNKS[i++]);
          setImmediate(next);
        } else {
          if (body.includes('include_usage')) res.write(USAGE_CHUNK);
          res.end('data: [DONE]\n\n');
        }
      };
      next();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.send!(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
}

/**
 * Each response its own id, as a provider gives it: a stored turn whose id is already kept is
 * left as it is (no rows written), so one id for all would measure a stored stream without its rows.
 */
let responses = 0;
const RESP_ID = '"resp_bench"';
const RESP_FIRST = RESP_EVENTS[0]!.toString();
const RESP_LAST = RESP_EVENTS.at(-1)!.toString();

function respond(res: import('node:http').ServerResponse, stream: boolean): void {
  const id = `"resp_bench${++responses}"`;
  if (!stream) {
    const body = RESPONSE.replace(RESP_ID, id);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  let i = 0;
  const next = () => {
    if (i < RESP_EVENTS.length - 1) {
      res.write(i === 0 ? RESP_FIRST.replaceAll(RESP_ID, id) : RESP_EVENTS[i]!);
      i++;
      setImmediate(next);
    } else res.end(RESP_LAST.replaceAll(RESP_ID, id));
  };
  next();
}

export interface RunResult {
  n: number;
  seconds: number;
  latencies: number[];
  firstChunk: number[];
}

export async function load(origin: string, path: string, token: string, body: string, concurrency: number, total: number, stream: boolean, extra: Record<string, string> = {}): Promise<RunResult> {
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  const latencies: number[] = [];
  const firstChunk: number[] = [];
  let started = 0;
  const deadline = performance.now() + MAX_SECONDS_PER_RUN * 1000;
  const t0 = performance.now();
  const worker = async () => {
    while (started < total && performance.now() < deadline) {
      started++;
      const s = process.hrtime.bigint();
      const r = await pool.request({ path, method: 'POST', headers: { ...extra, authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
      if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode}: ${await r.body.text()}`);
      if (stream) {
        let first = true;
        for await (const _ of r.body) {
          if (first) {
            firstChunk.push(Number(process.hrtime.bigint() - s) / 1e6);
            first = false;
          }
        }
      } else await r.body.dump();
      latencies.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await pool.close();
  return { n: latencies.length, seconds, latencies: latencies.sort((a, b) => a - b), firstChunk: firstChunk.sort((a, b) => a - b) };
}

/**
 * `iron-cage serve` in front of `upstream` (budget, persistence and PII redaction on), with an
 * agent token named `bench`; with `admin`, an admin token too (to mint more agents over the API).
 */
export async function startGateway(
  dir: string,
  upstream: string,
  o: { admin?: boolean; cli?: string; cpu?: number; nodeArgs?: string[]; env?: Record<string, string> } = {},
): Promise<{ child: ChildProcess; origin: string; token: string; admin: string | null }> {
  const CLI = o.cli ?? DEFAULT_CLI;
  const db = join(dir, 'bench.db');
  const config = join(dir, 'iron-cage.yaml');
  // The Responses rounds store ~100,000 turns under one agent: past the default cap (100,000 items),
  // which is a limit of the store, not what the benchmark measures.
  writeFileSync(config, `providers:\n  openai:\n    base_url: ${upstream}/v1\n    api_key: sk-bench\nsafety_mode: redact\nresponses:\n  max_stored_items_per_agent: 10000000\n`);
  const token = (role: string, name: string, ...more: string[]) =>
    JSON.parse(execFileSync(process.execPath, [CLI, 'token', 'create', '--role', role, '--name', name, ...more, '--json', '--db', db, '--config', config], { encoding: 'utf8' })).token as string;
  const created = { token: token('agent', 'bench', '--budget', '1000000') };
  const admin = o.admin ? token('admin', 'bench-admin') : null;
  // BENCH_NODE_ARGS: flags for the gateway's node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), ...(o.nodeArgs ?? [])];
  const args = [...nodeArgs, CLI, 'serve', '--port', '0', '--db', db, '--config', config, '--log-format', 'json'];
  const child = spawnNode(args, o.cpu, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...o.env } });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const m = /"msg":"Iron Cage [^"]* dashboard (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
    if (m) {
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      return { child, origin: m[1]!, token: created.token, admin };
    }
    if (Date.now() > deadline) throw new Error(`iron-cage serve did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
