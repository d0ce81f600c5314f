import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { escapeControl } from '../../src/core/logger.js';
import { createTerminal } from '../../src/demo/terminal.js';
import { startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';

// What an agent controls (SDK event text, its stdout and stderr, its
// requests' paths) is shown on the operator's terminal, never obeyed by it.

/** Anything a terminal acts on rather than shows; TAB and the line ends of real records aside. */
const ACTIVE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

let t: TestRuntime | undefined;
let cleanup: (() => void) | undefined;
afterEach(async () => {
  await t?.stop();
  cleanup?.();
  t = undefined;
});

const AGENT = String.raw`
import sys, iron_cage
iron_cage.event("\x1b[31mFORGED\r\n[10:00:00] INFO  lg-00000000 Agent completed", forged="\x1b]0;pwned\x07")
print("title \x1b]0;owned\x07 clear \x1b[2J\x1b[H bidi \u202egnp.exe \u2028 next", flush=True)
print("cr\roverwritten \x9b31m c1", file=sys.stderr, flush=True)
print("agent done", flush=True)
`;

describe('terminal and log output', () => {
  it("escapes an agent's SDK events, stdout and stderr: one record per line, no sequence reaches the terminal", async () => {
    const d = tempDir();
    cleanup = d.cleanup;
    const script = join(d.dir, 'forger.py');
    writeFileSync(script, AGENT);
    t = await startTestRuntime({ agent: { script } });
    await until(() => t!.log().includes('agent done'));
    await until(() => t!.log().includes('FORGED'));
    const log = t.log();

    for (const line of log.split('\n')) expect(line).not.toMatch(ACTIVE);
    // The forged record is one line of visible text, not a second log line.
    expect(log.split('\n').filter((l) => l.startsWith('[10:00:00]'))).toEqual([]);
    expect(log).toContain(String.raw`\x1b[31mFORGED\r\n[10:00:00] INFO  lg-00000000 Agent completed`);
    expect(log).toContain(String.raw`title \x1b]0;owned\x07 clear \x1b[2J\x1b[H bidi \u202egnp.exe \u2028 next`);
    expect(log).toContain(String.raw`cr\roverwritten \u009b31m c1`);
  });

  it("escapes the demo terminal's lines and keeps a table's own line breaks", () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    const term = createTerminal({ out, quiet: true, env: {} });
    term.say('Lead 7: the LLM answer contained PII: "\x1b[2Jcleared\r\n[10:00:00] DEMO  fake"');
    term.print('row one \u202e\nrow two \x07');
    expect(text).not.toMatch(ACTIVE);
    expect(text).toContain(String.raw`"\x1b[2Jcleared\r\n[10:00:00] DEMO  fake"`);
    expect(text.split('\n')).toContain(String.raw`row one \u202e`);
    expect(text.split('\n')).toContain(String.raw`row two \x07`);
  });

  it('one escape for every printer: controls visible, plain text and TAB untouched', () => {
    expect(escapeControl('plain text\twith a tab, ünïcödé, emoji 🚀')).toBe('plain text\twith a tab, ünïcödé, emoji 🚀');
    expect(escapeControl('\x1b[0m\x00\x7f\x85\u2029\u2066\u200f')).toBe(String.raw`\x1b[0m\x00\x7f\u0085\u2029\u2066\u200f`);
    expect(escapeControl('a\r\nb')).toBe(String.raw`a\r\nb`);
    expect(escapeControl('a\r\nb', { lines: true })).toBe('a\\r\nb');
  });
});
