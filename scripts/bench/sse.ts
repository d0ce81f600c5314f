// How long the SSE splitter takes over one 16 MB event that comes in 8 KB pieces, as socket
// reads bring a large event (an image as base64): the speed figures test/unit/sse.test.ts used
// to assert. The test checks the work is linear in the event's size (bytes joined, characters
// searched); this says what that costs here. Run: npm run bench -- sse.
import { SseSplitter } from '../../src/core/sse.js';
import { fmt, median, report, type Row } from './lib.js';

const RUNS = 5;
/** What the test held before it counted work instead: a join or search at every read would take seconds. */
const TARGET_MS = 1500;

function pushIn8k(bytes: Buffer): number {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 8192) pieces.push(bytes.subarray(at, at + 8192));
  const splitter = new SseSplitter();
  const t0 = performance.now();
  let events = 0;
  for (const p of pieces) events += splitter.push(p).length;
  const ms = performance.now() - t0;
  if (events !== 2) throw new Error(`bench: ${events} events, expected 2`);
  return ms;
}

const oneLine = Buffer.from(`data: {"b64":"${'x'.repeat(16 * 1024 * 1024)}"}\n\ndata: [DONE]\n\n`);
const line = `data: ${'y'.repeat(58)}\n`;
const manyLines = Buffer.from(`${line.repeat(Math.floor((16 * 1024 * 1024) / line.length))}\ndata: [DONE]\n\n`);

const rows: Row[] = [];
for (const [metric, bytes] of [
  ['one 16 MB data line in 8 KB pieces (ms, median)', oneLine],
  ['16 MB of 64-byte data lines in 8 KB pieces (ms, median)', manyLines],
] as const) {
  const ms = median(Array.from({ length: RUNS }, () => pushIn8k(bytes)));
  rows.push({ metric, value: fmt(ms, 1), target: `< ${fmt(TARGET_MS)}`, ok: ms < TARGET_MS });
}
report('sse', 'SSE splitter: a 16 MB event in 8 KB reads', rows, { runs: RUNS });
