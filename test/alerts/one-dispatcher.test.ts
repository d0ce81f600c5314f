import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS, loadConfig } from '../../src/config/index.js';
import { parsePriceOverrides, SPEC_PRICE_OVERRIDES } from '../../src/domain/budget/index.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { FakeService } from '../helpers/http.js';
import { startMailbox, type Mailbox } from '../helpers/mail.js';
import { agentToken, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';

// One alert dispatcher per iron-cage, built from the one `alerts:` section: a budget threshold
// (from the gateway's meter) and a PII finding (from PII protection) reach the same webhook, the
// e-mail carries the budget alert only, and every delivery is recorded the same way.

const upstream = useFakeLlm();
let hook: FakeService;
let hookUrl: string;
const posts = () => hook.json() as Array<{ text: string }>;
let smtp: Mailbox;
let smtpUrl: string;
const mails = () => smtp.received.map((m) => m.raw);

beforeAll(async () => {
  hook = await FakeService.start();
  hookUrl = `${hook.url}/slack`;
  smtp = await startMailbox();
  smtpUrl = smtp.url;
});
afterAll(async () => {
  await hook.close();
  await smtp.close();
});

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
  hook.seen.length = 0;
  smtp.received.length = 0;
});

// The burn-rate alarm off: one call of $0.90 in a second would also raise it (test/budget/runway.test.ts).
const gateway = () =>
  upstream.gateway({ key: 'sk-real-provider-key', timeoutMs: 2000 }, { pricing: parsePriceOverrides(SPEC_PRICE_OVERRIDES), budgetPolicy: { ...DEFAULTS.gateway.budgetPolicy, runwayAlertMinutes: 0 } });

/** One call that crosses 90% of a $1 budget ($0.90 at the spec GPT-4 price) and answers with an e-mail address. */
async function crossAndLeak(rt: TestRuntime): Promise<string> {
  const a = await agentToken(rt, { name: 'alerted', budgetUsd: 1 });
  upstream.answer({ text: 'Write to bob.jones@example.org for the contract.', usage: { prompt_tokens: 30_000, completion_tokens: 0 } });
  const r = await fetch(`${rt.rt.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4', max_tokens: 1, messages: [{ role: 'user', content: 'who?' }] }),
  });
  expect(r.status).toBe(200);
  expect((await r.json()).choices[0].message.content).toContain('[EMAIL_REDACTED]');
  return a.agentId;
}

const deliveries = async (rt: TestRuntime, agentId: string) => {
  const { events } = await (await rt.api(`/api/events?agentId=${agentId}&limit=1000`)).json();
  return (events as Array<{ type: string; message: string; data: { channel: string; ok: boolean } }>).filter((e) => e.type === 'alert.delivery');
};

describe('one alert dispatcher', () => {
  it('sends a budget alert and a PII finding to the one webhook, e-mails the budget alert only, and records both', async () => {
    t = await startTestRuntime({ config: { gateway: gateway(), alerts: { webhookUrl: hookUrl, email: { to: 'ops@company.com', from: 'cage@company.com', smtpUrl } } } });
    expect(t.log().match(/Alerts go to: webhook \(budget, PII, watch, approvals\), e-mail \(budget, watch, approvals\)/g)).toHaveLength(1);
    const agentId = await crossAndLeak(t);
    await until(() => posts().length >= 2 && mails().length >= 1, 5000);
    expect(posts().map((p) => p.text)).toEqual(
      expect.arrayContaining([expect.stringMatching(/Budget warning: 90% used/), expect.stringMatching(/^:shield: Iron Cage: PII redacted in LLM output: 1 EMAIL/)]),
    );
    const recorded = await until(async () => {
      const d = await deliveries(t!, agentId);
      return d.length === 3 ? d : null;
    }, 5000);
    const hook = `${new URL(hookUrl).protocol}//${new URL(hookUrl).host}/…`;
    expect(recorded.map((e) => e.message).sort()).toEqual(['Budget alert e-mailed to ops@company.com', `Budget alert posted to webhook ${hook}`, `PII alert posted to webhook ${hook}`]);
    // One line per delivered alert: the recorded event, not the dispatcher's own line beside it.
    expect(t.log()).not.toMatch(/\bAlert (e-mailed|posted) /);
    expect(posts()).toHaveLength(2);
    expect(mails()).toHaveLength(1);
    expect(mails()[0]).toMatch(/Subject: .*90/);
    expect(mails()[0]).not.toContain('PII');
  });

  it('reads the deprecated safety.webhook_url as that one webhook, and says so once when it starts', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'iron-cage.yaml');
      writeFileSync(file, `safety:\n  webhook_url: ${hookUrl}\n`);
      const loaded = loadConfig({ configPath: file, env: {}, cwd: dir });
      t = await startTestRuntime({ config: { gateway: gateway(), alerts: loaded.alerts, notices: loaded.notices } });
      const warning = `config ${file}: safety.webhook_url is deprecated: use alerts.webhook_url, which budget alerts and PII findings share`;
      expect(t.log().split(warning)).toHaveLength(2);
      expect(t.log()).toMatch(/WARN.*safety\.webhook_url is deprecated/);
      // Budget alerts now reach the webhook that used to hear only of PII.
      const agentId = await crossAndLeak(t);
      await until(() => posts().length >= 2, 5000);
      expect(posts().map((p) => p.text)).toEqual(expect.arrayContaining([expect.stringMatching(/Budget warning: 90% used/), expect.stringMatching(/PII redacted/)]));
      await until(async () => ((await deliveries(t!, agentId)).length === 2 ? true : null), 5000);
      expect(t.log().split(warning)).toHaveLength(2);
    } finally {
      cleanup();
    }
  });
});
