import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { FakeLlm } from '../helpers/fake-llm.js';
import { FakeService, type Reply } from '../helpers/http.js';
import { startTestRuntime, tempDir, until, WsProbe, type TestRuntime } from '../helpers/runtime.js';
import { raw } from '../tools/helpers.js';
import { withTools } from '../tools/helpers.js';

// Disguised PII, which a probe found passing: zero-width characters inside a value, fullwidth letters and
// digits, Arabic-Indic digits, en-dashes as separators, small-form or fullwidth `@`, ideographic
// full stops. Each row is sent through every door (an LLM answer whole and streamed in pieces
// as small as one UTF-16 unit, the arguments of a tool call the LLM asks for, whole and
// streamed, raw and \u-escaped; a tool's answer as JSON, escaped JSON, NDJSON and text; an SDK
// event over REST and from a real Python agent, that agent's stdout), and neither the disguised
// value nor the plain one it stands for may reach the agent, the events table, the log,
// /api/events, the WebSocket or any byte on disk. The last rows are variants the probe did not
// list: the class is what is fixed, not the list.

interface Row {
  name: string;
  text: string;
  /** What the agent must get, written by hand. */
  redacted: string;
  /** Every form of each value that must not appear anywhere: as sent, and as it reads. */
  forms: string[];
}

const ROWS: Row[] = [
  {
    name: 'zero-width space inside an e-mail',
    text: 'Mail zara.quill\u200b@vexmail.io now',
    redacted: 'Mail [EMAIL_REDACTED] now',
    forms: ['zara.quill\u200b@vexmail.io', 'zara.quill@vexmail.io'],
  },
  {
    name: 'zero-width joiner inside an SSN',
    text: 'SSN 536-2\u200d2-8147 on file',
    redacted: 'SSN [SSN_REDACTED] on file',
    forms: ['536-2\u200d2-8147', '536-22-8147'],
  },
  {
    name: 'zero-width non-joiners between the groups of a card number',
    text: 'Card 4539\u200c1488\u200c0343\u200c6467 ok',
    redacted: 'Card [CREDIT_CARD_REDACTED] ok',
    forms: ['4539\u200c1488\u200c0343\u200c6467', '4539148803436467'],
  },
  {
    name: 'fullwidth letters and digits',
    text: 'Mail ｚａｒａ．ｑｕｉｌｌ＠ｖｅｘｍａｉｌ．ｉｏ, card ４５３９ １４８８ ０３４３ ６４６７.',
    redacted: 'Mail [EMAIL_REDACTED], card [CREDIT_CARD_REDACTED].',
    forms: ['ｚａｒａ．ｑｕｉｌｌ＠ｖｅｘｍａｉｌ．ｉｏ', '４５３９ １４８８ ０３４３ ６４６７', 'zara.quill@vexmail.io', '4539 1488 0343 6467'],
  },
  {
    name: 'Arabic-Indic digits',
    text: 'SSN ٥٣٦-٢٢-٨١٤٧ and phone ٤١٥-٥٥٥-٠١٩٩',
    redacted: 'SSN [SSN_REDACTED] and phone [PHONE_REDACTED]',
    forms: ['٥٣٦-٢٢-٨١٤٧', '٤١٥-٥٥٥-٠١٩٩', '536-22-8147', '415-555-0199'],
  },
  {
    name: 'en-dashes as separators',
    text: 'SSN 536–22–8147, call 415–555–0199',
    redacted: 'SSN [SSN_REDACTED], call [PHONE_REDACTED]',
    forms: ['536–22–8147', '415–555–0199', '536-22-8147', '415-555-0199'],
  },
  {
    name: 'small-form and fullwidth at signs',
    text: 'Mail zara.quill﹫vexmail.io or zara.quill＠vexmail.io',
    redacted: 'Mail [EMAIL_REDACTED] or [EMAIL_REDACTED]',
    forms: ['zara.quill﹫vexmail.io', 'zara.quill＠vexmail.io', 'zara.quill@vexmail.io'],
  },
  {
    name: 'ideographic full stops',
    text: 'Mail zara.quill@vexmail。io。',
    redacted: 'Mail [EMAIL_REDACTED]。',
    forms: ['zara.quill@vexmail。io', 'zara.quill@vexmail.io'],
  },
  // Variants the probe did not list.
  {
    name: 'a math-bold address',
    text: 'Mail 𝐳𝐚𝐫𝐚@𝐯𝐞𝐱𝐦𝐚𝐢𝐥.𝐢𝐨 now',
    redacted: 'Mail [EMAIL_REDACTED] now',
    forms: ['𝐳𝐚𝐫𝐚@𝐯𝐞𝐱𝐦𝐚𝐢𝐥.𝐢𝐨', 'zara@vexmail.io'],
  },
  {
    // The invisible characters inside the groups, not only next to the spaces between them.
    name: 'Devanagari digits with a word joiner and a soft hyphen',
    text: 'Card ४५\u2060३९ १४८८ ०३\u00ad४३ ६४६७ ok',
    redacted: 'Card [CREDIT_CARD_REDACTED] ok',
    forms: ['४५\u2060३९ १४८८ ०३\u00ad४३ ६४६७', '४५३९ १४८८ ०३४३ ६४६७', '4539 1488 0343 6467'],
  },
  {
    name: 'bidi marks, a variation selector and tag characters inside an e-mail',
    text: 'Mail zara\u200e.quill\ufe0f@vex\u{e0041}mail.io now',
    redacted: 'Mail [EMAIL_REDACTED] now',
    forms: ['zara\u200e.quill\ufe0f@vex\u{e0041}mail.io', 'zara.quill@vexmail.io'],
  },
  {
    name: 'mathematical digits and a minus sign in an SSN',
    text: 'SSN 𝟓𝟑𝟔−𝟐𝟐−𝟖𝟏𝟒𝟕 on file',
    redacted: 'SSN [SSN_REDACTED] on file',
    forms: ['𝟓𝟑𝟔−𝟐𝟐−𝟖𝟏𝟒𝟕', '536-22-8147'],
  },
  {
    name: 'dingbat digits that are no decimal digits, a heavy minus and an Arabic full stop',
    text: 'SSN ❺❸❻➖❷❷➖❽❶❹❼, mail zara.quill@vexmail۔io',
    redacted: 'SSN [SSN_REDACTED], mail [EMAIL_REDACTED]',
    forms: ['❺❸❻➖❷❷➖❽❶❹❼', 'zara.quill@vexmail۔io', '536-22-8147', 'zara.quill@vexmail.io'],
  },
  {
    name: 'blank braille cells and middle dots between the groups of a phone number',
    text: 'call 415\u2800555\u28000199 or 415·555·0199',
    redacted: 'call [PHONE_REDACTED] or [PHONE_REDACTED]',
    forms: ['415\u2800555\u28000199', '415·555·0199', '415 555 0199', '415-555-0199', '4155550199'],
  },
  {
    name: 'control characters inside the values',
    text: 'Mail cora\u0000.vance@quill\u0090mail.io, SSN 536\u001b-22-8147\u007f now',
    redacted: 'Mail [EMAIL_REDACTED], SSN [SSN_REDACTED]\u007f now',
    forms: ['cora\u0000.vance@quill\u0090mail.io', 'cora.vance@quillmail.io', 'quillmail.io', '536\u001b-22-8147', '-22-8147', '536-22-8147'],
  },
  {
    name: 'keycaps and accents stacked on the characters',
    text: 'SSN 5\u20e33\u20e36\u20e3-22-8147\u20e3, mail z\u0332a\u0332r\u0332a\u0332@vexmail.io\u0301 now',
    redacted: 'SSN [SSN_REDACTED], mail [EMAIL_REDACTED] now',
    forms: ['5\u20e33\u20e36\u20e3-22-8147', 'z\u0332a\u0332r\u0332a\u0332@vexmail.io', '536-22-8147', 'zara@vexmail.io'],
  },
];

const ALL_FORMS = [...new Set(ROWS.flatMap((r) => r.forms))];

// Real processes on two busy cores: a door takes seconds, so the limits are far above that.
const LIMIT_MS = 180_000;
const WAIT_MS = 90_000;

/** JSON with every code unit outside printable ASCII written as a \u escape (what many JSON writers send). */
const escaped = (json: string) => json.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

let upstream: FakeLlm;
beforeAll(async () => {
  upstream = await FakeLlm.start();
});
afterAll(async () => upstream.close());

let t: TestRuntime | undefined;
let tmp: ReturnType<typeof tempDir> | undefined;
afterEach(async () => {
  await t?.stop();
  tmp?.cleanup();
  t = undefined;
  tmp = undefined;
});

const TOOLS: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'lookup', description: 'Look a person up', parameters: { type: 'object', properties: { note: { type: 'string' } } } } },
];

const gateway = (): Config['gateway'] => ({
  ...DEFAULTS.gateway,
  providers: { ...DEFAULTS.gateway.providers, openai: { baseUrl: upstream.openaiUrl, apiKey: 'sk-x', timeoutMs: 5000 } },
});

/** Which forms of the values `surface` holds: as it is, and with invisible characters dropped (what a reader sees). */
function leaks(surface: string): string[] {
  const seen = surface.replace(/\p{Default_Ignorable_Code_Point}/gu, '');
  return ALL_FORMS.filter((f) => surface.includes(f) || seen.includes(f.replace(/\p{Default_Ignorable_Code_Point}/gu, '')));
}

/** Every file iron-cage wrote for this run (database, WAL, keys), read as UTF-8 and searched byte for byte. */
function diskLeaks(dir: string): string[] {
  const files = readdirSync(dir).map((f) => readFileSync(join(dir, f)));
  return ALL_FORMS.filter((form) => files.some((b) => b.includes(Buffer.from(form, 'utf8')))).concat(leaks(files.map((b) => b.toString('utf8')).join('\n')));
}

describe('disguised PII in an LLM answer, through the gateway with the official openai client', () => {
  it('is redacted, original span and disguise with it, in whole answers and in streams cut anywhere, and stored nowhere', { timeout: LIMIT_MS }, async () => {
    t = await startTestRuntime({ config: { gateway: gateway() } });
    const a = (await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'disguise', budgetUsd: 5 }) })).json()) as { token: string; agentId: string };
    const probe = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`);
    await probe.opened;
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });

    const got: Array<[string, string, string]> = [];
    for (const row of ROWS) {
      upstream.answer({ text: row.text, usage: { prompt_tokens: 5, completion_tokens: 20 } });
      const whole = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
      got.push([row.name, 'whole', whole.choices[0]!.message.content ?? '']);
      // One UTF-16 unit per piece splits surrogate pairs and puts every disguise at a chunk edge.
      for (const pieceChars of [1, 2, 3, 5]) {
        upstream.answer({ text: row.text, usage: { prompt_tokens: 5, completion_tokens: 20 }, pieceChars });
        const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] });
        let text = '';
        for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
        got.push([row.name, `stream/${pieceChars}`, text]);
      }
    }
    expect(got).toEqual(ROWS.flatMap((r) => ['whole', 'stream/1', 'stream/2', 'stream/3', 'stream/5'].map((how) => [r.name, how, r.redacted])));

    // The arguments of a tool call: a JSON text, its strings disguised as they are or \u-escaped
    // (an escape cut between pieces too), the value also as a key.
    const args: Array<[string, string, unknown]> = [];
    for (const row of ROWS) {
      const plain = JSON.stringify({ note: row.text, [row.text]: [row.text] });
      for (const [form, json] of [
        ['raw', plain],
        ['escaped', escaped(plain)],
      ] as const) {
        upstream.answer({ toolArguments: json, usage: { prompt_tokens: 5, completion_tokens: 20 } });
        const whole = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], tools: TOOLS });
        const call = whole.choices[0]!.message.tool_calls![0]! as { function: { arguments: string } };
        args.push([row.name, `${form}/whole`, JSON.parse(call.function.arguments)]);
        for (const pieceChars of [1, 4]) {
          upstream.answer({ toolArguments: json, usage: { prompt_tokens: 5, completion_tokens: 20 }, pieceChars });
          const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }], tools: TOOLS });
          let text = '';
          for await (const c of stream) text += c.choices[0]?.delta?.tool_calls?.[0]?.function?.arguments ?? '';
          args.push([row.name, `${form}/stream/${pieceChars}`, JSON.parse(text)]);
        }
      }
    }
    expect(args).toEqual(
      ROWS.flatMap((r) => ['raw', 'escaped'].flatMap((form) => ['whole', 'stream/1', 'stream/4'].map((how) => [r.name, `${form}/${how}`, { note: r.redacted, [r.redacted]: [r.redacted] }]))),
    );

    const { events } = await (await t.api(`/api/events?agentId=${a.agentId}&limit=1000`)).json();
    expect(events.filter((e: any) => e.type === 'pii.detected').length).toBeGreaterThanOrEqual(ROWS.length);
    expect(leaks(JSON.stringify(events))).toEqual([]);
    const audit = await (await t.api(`/api/audit/pii?agentId=${a.agentId}&limit=1000`)).json();
    expect(leaks(JSON.stringify(audit))).toEqual([]);

    await probe.close();
    const dir = t.dir;
    const log = t.log();
    await t.rt.shutdown('test done');
    expect(leaks(log)).toEqual([]);
    expect(leaks(JSON.stringify(probe.messages))).toEqual([]);
    expect(diskLeaks(dir)).toEqual([]);
  });
});

describe("disguised PII in a tool's answer, through the tool proxy", () => {
  it('is redacted in JSON (as it is and \\u-escaped), NDJSON and text answers before the agent, the cache, the records and the disk', { timeout: LIMIT_MS }, async () => {
    const items = ROWS.map((r) => ({ text: r.text, [r.text]: [r.text] }));
    const json = JSON.stringify({ items });
    const answers: Record<string, Reply> = {
      '/people.json': { status: 200, headers: { 'content-type': 'application/json' }, body: json },
      '/people-escaped.json': { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: escaped(json) },
      '/people.ndjson': { status: 200, headers: { 'content-type': 'application/x-ndjson' }, body: `${items.map((i) => escaped(JSON.stringify(i))).join('\n')}\n` },
      '/people.txt': { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: ROWS.map((r) => r.text).join('\n') },
    };
    const service = await FakeService.start();
    service.reply = (req): Reply => answers[req.url.split('?')[0]!] ?? { status: 404, body: 'no' };
    try {
      t = await startTestRuntime({ config: withTools({ crm: { url: service.url } }) });
      const probe = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`);
      await probe.opened;
      const get = async (path: string) => {
        const r = await raw(t!.rt.url, 'GET', `/tools/crm${path}`, { token: t!.rt.adminToken });
        expect(r.status, path).toBe(200);
        return r.body;
      };
      const expected = ROWS.map((r) => ({ text: r.redacted, [r.redacted]: [r.redacted] }));
      expect(JSON.parse(await get('/people.json'))).toEqual({ items: expected });
      expect(JSON.parse(await get('/people-escaped.json'))).toEqual({ items: expected });
      expect(
        (await get('/people.ndjson'))
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l)),
      ).toEqual(expected);
      expect(await get('/people.txt')).toBe(ROWS.map((r) => r.redacted).join('\n'));
      // Again: what the proxy may have kept (a cached answer) is the redacted one.
      expect(JSON.parse(await get('/people.json'))).toEqual({ items: expected });

      const audit = await (await t.api('/api/audit/pii?limit=1000')).json();
      expect(audit.records.filter((r: any) => r.location === 'tool.response').length).toBeGreaterThanOrEqual(ROWS.length);
      const { events } = await (await t.api('/api/events?limit=1000')).json();
      const calls = await (await t.api('/api/tools/calls?service=crm&limit=100')).json();
      expect(leaks(JSON.stringify([events, audit, calls]))).toEqual([]);

      await probe.close();
      const dir = t.dir;
      const log = t.log();
      await t.rt.shutdown('test done');
      expect(leaks(log)).toEqual([]);
      expect(leaks(JSON.stringify(probe.messages))).toEqual([]);
      expect(diskLeaks(dir)).toEqual([]);
    } finally {
      await service.close();
    }
  });
});

describe('disguised PII in what an agent says about itself', () => {
  it('is redacted in SDK events (REST and the Python SDK) and stdout before the events table, /api/events, the WebSocket and the log', { timeout: LIMIT_MS }, async () => {
    tmp = tempDir();
    writeFileSync(join(tmp.dir, 'rows.json'), JSON.stringify(ROWS.map((r) => r.text)));
    const script = join(tmp.dir, 'talker.py');
    writeFileSync(
      script,
      [
        'import json, os, iron_cage',
        'texts = json.load(open(os.path.join(os.path.dirname(__file__), "rows.json"), encoding="utf-8"))',
        'for i, text in enumerate(texts):',
        '    iron_cage.event(text, row=i, note=text, nested={"list": [text]})',
        '    print(f"row {i}: {text}", flush=True)',
        'print("agent done", flush=True)',
      ].join('\n'),
    );
    t = await startTestRuntime({ agent: { script } });
    const probe = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`);
    await probe.opened;
    const a = (await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'rest', budgetUsd: 5 }) })).json()) as { token: string; agentId: string };
    for (const row of ROWS) {
      const r = await t.api(`/api/agents/${a.agentId}/events`, { method: 'POST', token: a.token, body: JSON.stringify({ message: row.text, data: { text: row.text, [row.text]: 1 } }) });
      expect(r.status).toBe(201);
    }
    await until(() => t!.log().includes('agent done'), WAIT_MS);
    const sdkEvent = (e: any) => e.agentId !== a.agentId && e.type === 'agent.event';
    const rowLine = (e: any) => e.type === 'agent.output' && e.message.startsWith('row ');
    const events: any[] = await until(async () => {
      const { events: es } = await (await t!.api('/api/events?limit=1000')).json();
      return es.filter(sdkEvent).length >= ROWS.length && es.filter(rowLine).length >= ROWS.length ? es : null;
    }, WAIT_MS);
    // REST events: the message and every string of the data (keys too), each as written by hand.
    const rest = events.filter((e) => e.agentId === a.agentId && e.type === 'agent.event');
    expect(rest.map((e) => [e.message, e.data.text, Object.keys(e.data).sort()])).toEqual(ROWS.map((r) => [r.redacted, r.redacted, [r.redacted, 'text'].sort()]));
    // The Python agent's events and stdout lines.
    expect(events.filter(sdkEvent).map((e) => [e.message, e.data.note, e.data.nested.list[0]])).toEqual(ROWS.map((r) => [r.redacted, r.redacted, r.redacted]));
    expect(events.filter(rowLine).map((e) => e.message)).toEqual(ROWS.map((r, i) => `row ${i}: ${r.redacted}`));
    expect(leaks(JSON.stringify(events))).toEqual([]);

    await probe.close();
    const dir = t.dir;
    const log = t.log();
    await t.rt.shutdown('test done');
    expect(log).toContain(`row 0: ${ROWS[0]!.redacted}`);
    expect(leaks(log)).toEqual([]);
    expect(leaks(JSON.stringify(probe.messages))).toEqual([]);
    expect(diskLeaks(dir)).toEqual([]);
  });
});
