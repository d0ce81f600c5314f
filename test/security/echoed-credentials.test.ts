import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, json, useFakeLlm } from '../helpers/fake-llm.js';
import { agentToken, startTestRuntime, tempDir, type TestRuntime } from '../helpers/runtime.js';
import { type Seen, FakeService } from '../helpers/http.js';
import { withTools } from '../tools/helpers.js';

// A probe found: a tool service whose header carries a vault secret, or a credential written
// in the config, and which echoes request headers (a debugging endpoint, an error page, a
// redirect), handed the agent the credential, and the tool cache kept it in plaintext. Whatever
// iron-cage itself sends must never reach the agent or the disk, in any of its common forms.
// The provider's API key, which the gateway attaches, is the same case on the LLM side.

const MASTER = 'echoed-credentials master key';
const VAULT_TOKEN = 'crm-live-7Qm2xV9rT4kP8wZ3';
const CONFIG_KEY = 'cfg-key-Hn5sJ2dL9qR1vX6c';
const BASIC_PAIR = 'svc-user:S3cret-Passw0rd!';
const BASIC = Buffer.from(BASIC_PAIR).toString('base64');
const PROVIDER_KEY = 'sk-upstream-0Kp4Wz7Qv2Lm9Xr5Tb3N';

/** Every form a credential must not appear in: as sent, URL-encoded, base64, and Basic's decoded pair and password. */
const FORMS = [
  VAULT_TOKEN,
  encodeURIComponent(`Bearer ${VAULT_TOKEN}`),
  Buffer.from(VAULT_TOKEN).toString('base64'),
  CONFIG_KEY,
  BASIC,
  BASIC_PAIR,
  'S3cret-Passw0rd!',
  encodeURIComponent('S3cret-Passw0rd!'),
];

const { dir, cleanup } = tempDir();
let svc: FakeService;
let t: TestRuntime;
let token: string;

/** How a service echoes what it was sent. */
const echoes: Record<string, (req: Seen) => { status: number; headers?: Record<string, string>; body?: string }> = {
  'a JSON dump of the request headers': (req) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ headers: req.headers }) }),
  'an HTML error page quoting them': (req) => ({
    status: 403,
    headers: { 'content-type': 'text/html' },
    body: `<pre>Authorization: ${req.headers.authorization}\nX-Api-Key: ${req.headers['x-api-key']}</pre>`,
  }),
  'a redirect carrying them URL-encoded': (req) => ({ status: 302, headers: { location: `https://login.example/?auth=${encodeURIComponent(String(req.headers.authorization))}` }, body: '' }),
  'a response header echoing them': (req) => ({ status: 200, headers: { 'x-echo-auth': String(req.headers.authorization), 'content-type': 'text/plain' }, body: 'ok' }),
  'base64 and the decoded Basic pair': (req) => {
    const basic = String(req.headers['x-basic'] ?? '').replace(/^Basic /, '');
    return {
      status: 200,
      headers: { 'content-type': 'text/plain' },
      body: `token=${Buffer.from(VAULT_TOKEN).toString('base64')} basic=${Buffer.from(basic, 'base64').toString()} raw=${basic}`,
    };
  },
};

beforeAll(async () => {
  svc = await FakeService.start();
  const setup = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: MASTER } });
  for (const [name, value] of [
    ['CRM_TOKEN', VAULT_TOKEN],
    ['CRM_BASIC', BASIC],
  ])
    expect((await setup.api('/api/secrets', { method: 'POST', body: JSON.stringify({ name, environment: 'development', value }) })).status).toBe(201);
  await setup.stop();
  const tools = withTools({
    crm: {
      url: svc.url,
      // Cached: what the agent must not get must not be kept either.
      cache_ttl_s: 60,
      headers: { authorization: 'Bearer ${secret:CRM_TOKEN}', 'x-api-key': CONFIG_KEY, 'x-basic': 'Basic ${secret:CRM_BASIC}' },
    },
  });
  t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: MASTER }, config: tools });
  token = ((await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'echo', budgetUsd: 5 }) })).json()) as { token: string }).token;
});
afterAll(async () => {
  await t?.stop();
  await svc?.close();
  cleanup();
});

/** An answer as the agent gets it: its headers, then its body. */
async function dump(r: Response): Promise<string> {
  const lines: string[] = [];
  r.headers.forEach((v, k) => {
    lines.push(`${k}: ${v}`);
  });
  return `${lines.join('\n')}\n${await r.text()}`;
}

/** The database file and its WAL, as bytes read as text: where a cached answer or a row would keep a credential. */
const onDisk = () =>
  [t.rt.config.db, `${t.rt.config.db}-wal`]
    .map((f) =>
      (() => {
        try {
          return readFileSync(f).toString('latin1');
        } catch {
          return '';
        }
      })(),
    )
    .join('');

describe('credentials iron-cage sends to a tool service never come back', () => {
  for (const [how, echo] of Object.entries(echoes)) {
    it(`${how}: scrubbed from what the agent gets and from what is cached and recorded`, async () => {
      svc.reply = echo;
      const r = await fetch(`${t.rt.url}/tools/crm/whoami?n=${encodeURIComponent(how)}`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
      // The service was sent the real credentials: the scrub is on the way back only.
      expect(svc.seen.at(-1)!.headers.authorization).toBe(`Bearer ${VAULT_TOKEN}`);
      const seen = await dump(r);
      for (const form of FORMS) expect(seen).not.toContain(form);
      expect(seen).toContain('[CREDENTIAL_REDACTED]');
      // Served again from the cache where it was cached: still without them.
      const again = await fetch(`${t.rt.url}/tools/crm/whoami?n=${encodeURIComponent(how)}`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
      const twice = await dump(again);
      for (const form of FORMS) expect(twice).not.toContain(form);
      for (const form of FORMS) expect(onDisk()).not.toContain(form);
    });
  }

  it('an answer in a coding iron-cage cannot undo is refused when the call carried credentials, whatever the PII policy', async () => {
    svc.reply = () => ({ status: 200, headers: { 'content-encoding': 'x-made-up', 'content-type': 'application/json' }, body: `{"auth":"Bearer ${VAULT_TOKEN}"}` });
    const r = await fetch(`${t.rt.url}/tools/crm/opaque`, { headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(403);
    const body = await r.text();
    expect(body).toMatch(/may echo the credentials sent with the call/);
    expect(body).not.toContain(VAULT_TOKEN);
  });
});

describe("the provider's API key, attached by the gateway, never comes back to the agent", () => {
  const llm = useFakeLlm();
  let g: TestRuntime;
  let agent: string;
  const { dir: gdir, cleanup: gclean } = tempDir();
  beforeAll(async () => {
    g = await startTestRuntime({ dir: gdir, config: { gateway: llm.gateway({ key: PROVIDER_KEY }) } });
    agent = (await agentToken(g, { name: 'echo-llm' })).token;
  });
  afterAll(async () => {
    await g?.stop();
    gclean();
  });

  const usage = { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 };
  const answers: Record<string, Answer> = {
    'a whole answer quoting the Authorization header': { text: `You sent: Bearer ${PROVIDER_KEY}`, usage },
    'a stream quoting it, base64-encoded too': { pieces: [`key ${PROVIDER_KEY} `, `b64 ${Buffer.from(PROVIDER_KEY).toString('base64')}`], usage },
    'an error body quoting it': { status: 401, body: { error: { message: `Incorrect API key provided: ${PROVIDER_KEY}`, type: 'invalid_request_error' } } },
  };

  for (const [how, answer] of Object.entries(answers)) {
    it(`${how}: scrubbed from the answer, the request row and the log`, async () => {
      llm.answer(answer);
      const r = await fetch(`${g.rt.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', stream: how.includes('stream'), messages: [{ role: 'user', content: 'who am I?' }] }),
      });
      const text = await r.text();
      for (const form of [PROVIDER_KEY, Buffer.from(PROVIDER_KEY).toString('base64')]) {
        expect(text).not.toContain(form);
        expect(g.log()).not.toContain(form);
        expect(
          [g.rt.config.db, `${g.rt.config.db}-wal`]
            .map((f) =>
              (() => {
                try {
                  return readFileSync(f).toString('latin1');
                } catch {
                  return '';
                }
              })(),
            )
            .join(''),
        ).not.toContain(form);
      }
    });
  }

  it('an unmetered call (the model list) quoting it: scrubbed too', async () => {
    llm.raw(json({ object: 'list', data: [{ id: 'gpt-4o', object: 'model', created: 1, owned_by: `key ${PROVIDER_KEY}` }] }));
    const r = await fetch(`${g.rt.url}/v1/models`, { headers: { authorization: `Bearer ${agent}` } });
    const text = await r.text();
    expect(r.status).toBe(200);
    expect(text).toContain('gpt-4o');
    expect(text).not.toContain(PROVIDER_KEY);
  });
});
