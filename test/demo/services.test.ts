import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countChatCompletionTokens } from 'gpt-tokenizer/model/gpt-4o';
import { countTextTokens } from '../../src/domain/budget/index.js';
import { keyHash, MAIL_SERVICE, startDemoServices, type DemoServices } from '../../src/demo/services.js';
import { leadRequests } from '../../src/demo/plan.js';
import { loadScenario, scenarioRequests } from '../../src/demo/scenario.js';
import { ROOT } from '../helpers/runtime.js';

// The demo's services on their own: honest usage from the LLM upstream, LinkedIn's scripted
// failure from the breaker lead, Clearbit's poisoned record at the injection lead, the mail API
// that queues the agent's e-mails, credentials required by every tool.

const s = loadScenario(join(ROOT, 'demo/scenario.yaml'));
let svc: DemoServices;
beforeAll(async () => {
  svc = await startDemoServices(s);
});
afterAll(() => svc.close());

const post = (body: unknown, key: string | null = 'sk-demo-a') =>
  fetch(`${svc.llmUrl}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify(body) });

describe('the demo LLM upstream', () => {
  it('answers with the requested length and reports the true token counts', async () => {
    const [req] = leadRequests(s.plan, s.leadList[4]!, 5, s.leads, true);
    const res = await post(req);
    expect(res.status).toBe(200);
    const body = await res.json();
    const text = body.choices[0].message.content as string;
    // Counted as OpenAI counts a chat prompt (gpt-tokenizer's count for the gpt-4o family).
    expect(req!.model).toBe('gpt-4o-mini');
    expect(body.usage.prompt_tokens).toBe(countChatCompletionTokens?.({ messages: req!.messages } as never));
    expect(body.usage.completion_tokens).toBe(countTextTokens(text, req!.model));
    expect(body.usage.completion_tokens).toBeLessThanOrEqual(req!.max_tokens);
    expect(body.usage.completion_tokens).toBeGreaterThan(req!.max_tokens * 0.95);
    // Deterministic: the same request gets the same answer.
    expect((await (await post(req)).json()).choices[0].message.content).toBe(text);
    expect(svc.keysSeen().slice(-2)).toEqual([
      { lead: 5, key: keyHash('sk-demo-a') },
      { lead: 5, key: keyHash('sk-demo-a') },
    ]);
  });

  it('streams the same answer with usage last, and refuses a call without a key', async () => {
    const [req] = leadRequests(s.plan, s.leadList[6]!, 7, s.leads, true);
    const whole = await (await post(req)).json();
    const sse = await (await post({ ...req, stream: true })).text();
    const chunks = sse
      .split('\n\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => JSON.parse(l.slice(6)));
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe(whole.choices[0].message.content);
    expect(chunks.at(-1).usage).toEqual(whole.usage);
    expect(sse.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect((await post(req, null)).status).toBe(401);
  });
});

describe('the hold at the end of a lead', () => {
  it('answers the last call of the lead only after the hook settled, and holds no other call', async () => {
    const n = s.triggers.rotation.lead - 1;
    const reqs = scenarioRequests(s, n);
    const order: string[] = [];
    let release: () => void = () => {};
    svc.atLeadEnd(n, () => {
      order.push('hook');
      return new Promise<void>((r) => (release = () => (order.push('released'), r())));
    });
    for (const req of reqs.slice(0, -1)) expect((await post(req)).status).toBe(200);
    expect(order).toEqual([]);
    const last = post(reqs.at(-1)).then((r) => (order.push('answered'), r));
    while (order.length === 0) await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['hook']);
    release();
    expect((await last).status).toBe(200);
    expect(order).toEqual(['hook', 'released', 'answered']);
    // Once: a repeat of the same call is not held again.
    expect((await post(reqs.at(-1))).status).toBe(200);
  });
});

describe('mock LinkedIn and Clearbit', () => {
  const get = (url: string, path: string, domain: string, auth = true) => fetch(`${url}${path}?domain=${domain}`, { headers: auth ? { authorization: 'Bearer t' } : {} });
  it('LinkedIn answers profiles before the breaker lead and the scripted status from it on', async () => {
    const b = s.triggers.breaker;
    expect((await get(svc.linkedinUrl, '/people/search', s.leadList[b.lead - 2]!.domain)).status).toBe(200);
    expect((await get(svc.linkedinUrl, '/people/search', s.leadList[b.lead - 1]!.domain)).status).toBe(b.status);
    expect((await get(svc.linkedinUrl, '/people/search', 'nobody.example')).status).toBe(404);
    expect((await get(svc.linkedinUrl, '/people/search', s.leadList[0]!.domain, false)).status).toBe(401);
  });

  it('Clearbit answers every lead', async () => {
    const r = await get(svc.clearbitUrl, '/companies/find', s.leadList[99]!.domain);
    expect(r.status).toBe(200);
    expect((await r.json()).name).toBe(s.leadList[99]!.company);
    expect(svc.toolCalls().at(-1)).toEqual({ service: 'clearbit', lead: 100, status: 200 });
  });

  it("Clearbit's record for the injection lead, and no other, carries the injection after its description, byte for byte as the prompts predict", async () => {
    const t = s.triggers.injection;
    const poisoned = await (await get(svc.clearbitUrl, '/companies/find', s.leadList[t.lead - 1]!.domain)).text();
    const lead = s.leadList[t.lead - 1]!;
    expect(JSON.parse(poisoned).description).toBe(`${lead.company} is a ${lead.industry} company based in ${lead.city} with about ${lead.employees} employees. ${t.text}`);
    expect(scenarioRequests(s, t.lead)[0]!.messages[1]!.content).toContain(poisoned);
    const before = await (await get(svc.clearbitUrl, '/companies/find', s.leadList[t.lead - 2]!.domain)).json();
    expect(before.description).not.toContain(t.text);
  });
});

describe('the mock mail API', () => {
  const send = (body: unknown, auth = true) =>
    fetch(`${svc.mailerUrl}/mail/send`, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: 'Bearer m' } : {}) }, body: JSON.stringify(body) });
  it("queues an e-mail (202), names its lead by the recipient's domain, and refuses one without credentials or fields", async () => {
    const lead = s.leadList[2]!;
    const r = await send({ to: `someone@${lead.domain}`, from: 'sales@company.com', subject: 'Hello', text: 'Hi' });
    expect(r.status).toBe(202);
    expect(await r.json()).toEqual({ id: 'demo-mail-1', status: 'queued' });
    expect((await send({ to: `someone@${lead.domain}`, subject: 'Hello', text: 'Hi' }, false)).status).toBe(401);
    expect((await send({ subject: 'Hello' })).status).toBe(400);
    expect(svc.mails()).toEqual([{ lead: 3, to: `someone@${lead.domain}`, subject: 'Hello' }]);
    expect(
      svc
        .toolCalls()
        .filter((c) => c.service === MAIL_SERVICE)
        .map((c) => [c.lead, c.status]),
    ).toEqual([
      [3, 202],
      [3, 401],
      [null, 400],
    ]);
  });
});
