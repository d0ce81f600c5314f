import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BudgetTracker, budgetAlert, emailBudgetAlert, projectSpend, recommendIncrease, slackBudgetAlert } from '../../src/domain/budget/index.js';
import { createLogger } from '../../src/core/logger.js';
import { AlertDispatcher, budgetAlertMessage, type AlertDispatcherOptions, type AlertResult } from '../../src/alerts/index.js';
import { FakeService, unusedPort } from '../helpers/http.js';
import { startMailbox } from '../helpers/mail.js';

const USD = 1_000_000;
const SMTP_USER = 'alerts@company.com';
const SMTP_PASS = 'hunter2-SMTP-pass';
const HOOK_SECRET = 'T0000/B0000/XXXXsecretXXXX';

/** The spec's demo moment: $45 of $50 spent at lead #85. */
function warningMessage(): ReturnType<typeof budgetAlertMessage> {
  const tracker = new BudgetTracker();
  tracker.restore('lg-7a3f9c2d', { limitMicros: 50 * USD, spentMicros: 44 * USD });
  const [notice] = tracker.charge('lg-7a3f9c2d', USD).notices;
  const projection = projectSpend(45 * USD, 50 * USD, { done: 85, total: 100, unit: 'leads' });
  const recommendation = recommendIncrease({ limitMicros: 50 * USD, spentMicros: 45 * USD, projectedMicros: projection.projectedMicros });
  return budgetAlertMessage(budgetAlert(notice!, { agentName: 'lead-gen', projection, recommendation }));
}

// ---- real receivers -------------------------------------------------------------------------

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A promise and the function that settles it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Never answer: a receiver that hangs. */
  hang?: boolean;
  /** Answer only once this has settled. */
  after?: Promise<void>;
}

/** A mailbox closed after the test. */
async function mailbox(opts: Parameters<typeof startMailbox>[0] = {}) {
  const m = await startMailbox(opts);
  cleanups.push(() => m.close());
  return m;
}

/** A Slack-like webhook answering `replies` in turn (the last one again once they run out). */
async function startWebhook(replies: Reply[] = [{ status: 200, body: 'ok' }], onRequest?: () => void) {
  const svc = await FakeService.start();
  cleanups.push(() => svc.close());
  svc.reply = () => {
    onRequest?.();
    const r = replies[Math.min(svc.seen.length, replies.length) - 1]!;
    return r.hang ? 'hang' : { status: r.status, headers: { 'content-type': 'text/plain', ...r.headers }, body: r.body ?? '', after: r.after };
  };
  return {
    url: `${svc.url}/services/${HOOK_SECRET}`,
    get requests() {
      return svc.seen.map((q) => ({ method: q.method, path: q.url, contentType: String(q.headers['content-type']), body: JSON.parse(q.body) }));
    },
  };
}

function dispatcher(opts: Partial<AlertDispatcherOptions> = {}) {
  const out = new PassThrough();
  let log = '';
  out.on('data', (c: Buffer) => (log += c.toString('utf8')));
  const results: AlertResult[] = [];
  const delays: number[] = [];
  const d = new AlertDispatcher({
    webhookUrl: null,
    email: null,
    logger: createLogger({ format: 'json', level: 'debug', stream: out }),
    onResult: (r) => results.push(r),
    retry: { baseMs: 1, maxMs: 20 },
    // Waits are recorded, not slept, unless a test asks for the real timer (`sleep: undefined`).
    sleep: async (ms) => void delays.push(ms),
    ...opts,
  });
  cleanups.push(() => d.close());
  const settled = (n: number) => vi.waitFor(() => expect(results).toHaveLength(n), { timeout: 10_000, interval: 10 });
  const result = (channel: AlertResult['channel']) => results.find((r) => r.channel === channel);
  return { d, results, delays, log: () => log, settled, result };
}

function email(smtpUrl: string) {
  return { to: 'ops@company.com', from: 'iron-cage@company.com', smtpUrl };
}

// ---- tests ----------------------------------------------------------------------------------

describe('AlertDispatcher', () => {
  it('e-mails ops within 5 s and posts the Slack payload, concurrently, without blocking the caller', async () => {
    // Each receiver answers only once the other has been reached: one channel awaited before
    // the other starts would never finish.
    const mailIn = deferred();
    const hookIn = deferred();
    const smtp = await mailbox({ auth: { user: SMTP_USER, pass: SMTP_PASS }, onMail: mailIn.resolve, holdUntil: hookIn.promise });
    const hook = await startWebhook([{ status: 200, body: 'ok', after: mailIn.promise }], hookIn.resolve);
    const t = dispatcher({ webhookUrl: hook.url, email: email(smtp.url) });
    expect(t.d.channels).toEqual(['webhook', 'email']);
    const message = warningMessage();

    const sentAt = Date.now();
    expect(t.d.send(message)).toBeUndefined();
    expect(t.results).toEqual([]);
    await t.settled(2);

    expect(smtp.received).toHaveLength(1);
    const mail = smtp.received[0]!;
    expect(mail.at - sentAt).toBeLessThan(5_000);
    expect(mail.from).toBe('iron-cage@company.com');
    expect(mail.to).toEqual(['ops@company.com']);
    expect(mail.subject).toBe(message.email.subject);
    expect(mail.subject).toBe('[Iron Cage] Budget at 90% for lead-gen (lg-7a3f9c2d): $45.00 / $50.00 (90.0%)');
    expect(mail.body.replace(/\r\n/g, '\n')).toBe(message.email.text);
    expect(mail.body).toContain('Approve $10 increase');

    expect(hook.requests).toHaveLength(1);
    expect(hook.requests[0]).toMatchObject({ method: 'POST', path: `/services/${HOOK_SECRET}` });
    expect(hook.requests[0]!.contentType).toMatch(/^application\/json/);
    expect(hook.requests[0]!.body).toEqual(JSON.parse(JSON.stringify(message.slack)));

    // Each result names where it went, as it may be shown (the event's line: "Budget alert e-mailed to ops@company.com").
    expect(t.result('email')).toEqual({ channel: 'email', ok: true, attempts: 1, alertId: message.id, kind: 'budget', agentId: 'lg-7a3f9c2d', target: 'ops@company.com' });
    expect(t.result('webhook')).toEqual({
      channel: 'webhook',
      ok: true,
      attempts: 1,
      alertId: message.id,
      kind: 'budget',
      agentId: 'lg-7a3f9c2d',
      target: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/…$/),
    });
    expect(t.log()).toContain('Alert e-mailed to ops@company.com');
    expect(t.log()).not.toContain(SMTP_PASS);
    expect(t.log()).not.toContain(HOOK_SECRET);
  });

  it('builds the budget alert from the domain payloads', () => {
    const msg = warningMessage();
    expect(msg.id).toBe('budget:lg-7a3f9c2d:warning:0.9');
    expect(msg.agentId).toBe('lg-7a3f9c2d');
    const tracker = new BudgetTracker();
    tracker.restore('a', { limitMicros: 10 * USD, spentMicros: 0 });
    const [notice] = tracker.charge('a', 10 * USD).notices.slice(-1);
    const alert = budgetAlert(notice!);
    expect(budgetAlertMessage(alert)).toEqual({
      id: 'budget:a:exhausted:1',
      kind: 'budget',
      agentId: 'a',
      slack: slackBudgetAlert(alert),
      email: emailBudgetAlert(alert),
    });
  });

  it('retries a webhook that fails twice with 500 and delivers once', async () => {
    const hook = await startWebhook([{ status: 500 }, { status: 503 }, { status: 200, body: 'ok' }]);
    const t = dispatcher({ webhookUrl: hook.url });
    t.d.send(warningMessage());
    await t.settled(1);
    expect(t.results[0]).toMatchObject({ channel: 'webhook', ok: true, attempts: 3 });
    await t.d.close();
    expect(hook.requests).toHaveLength(3);
    expect(t.delays).toHaveLength(2);
  });

  it('waits as long as a 429 Retry-After asks, capped at the retry maximum', async () => {
    const hook = await startWebhook([{ status: 429, headers: { 'retry-after': '2' } }, { status: 429, headers: { 'retry-after': '3600' } }, { status: 200 }]);
    const t = dispatcher({ webhookUrl: hook.url, retry: { baseMs: 1, maxMs: 3_000 } });
    t.d.send(warningMessage());
    await t.settled(1);
    expect(t.results[0]).toMatchObject({ channel: 'webhook', ok: true, attempts: 3 });
    expect(t.delays).toEqual([2_000, 3_000]);
    expect(hook.requests).toHaveLength(3);
  });

  it('does not retry a 400 and reports what the receiver said', async () => {
    const hook = await startWebhook([{ status: 400, body: 'invalid_payload' }, { status: 200 }]);
    const t = dispatcher({ webhookUrl: hook.url });
    t.d.send(warningMessage());
    await t.settled(1);
    expect(t.results[0]).toMatchObject({ channel: 'webhook', ok: false, attempts: 1, error: 'HTTP 400: invalid_payload' });
    await t.d.close();
    expect(hook.requests).toHaveLength(1);
    expect(t.log()).toContain('"level":"warn"');
    expect(t.log()).toContain('invalid_payload');
  });

  it('survives a dead webhook: logged, reported, masked, and the e-mail still arrives', async () => {
    const smtp = await mailbox();
    const port = await unusedPort();
    const t = dispatcher({ webhookUrl: `http://127.0.0.1:${port}/services/${HOOK_SECRET}`, email: email(smtp.url) });
    const message = warningMessage();
    expect(() => t.d.send(message)).not.toThrow();
    await t.settled(2);

    expect(smtp.received).toHaveLength(1);
    expect(t.result('email')).toMatchObject({ ok: true, attempts: 1 });
    const hook = t.result('webhook')!;
    expect(hook).toMatchObject({ channel: 'webhook', ok: false, attempts: 4, alertId: message.id });
    expect(hook.error).toMatch(/ECONNREFUSED/);
    const warn = t
      .log()
      .split('\n')
      .find((l) => l.includes('"level":"warn"'))!;
    expect(warn).toContain(`http://127.0.0.1:${port}/…`);
    expect(warn).toContain('ECONNREFUSED');
    expect(t.log()).not.toContain(HOOK_SECRET);
  });

  it('survives a dead SMTP server: logged, reported, no password, and the webhook still delivers', async () => {
    const hook = await startWebhook();
    const port = await unusedPort();
    const t = dispatcher({ webhookUrl: hook.url, email: email(`smtp://${SMTP_USER}:${SMTP_PASS}@127.0.0.1:${port}`) });
    t.d.send(warningMessage());
    await t.settled(2);

    expect(hook.requests).toHaveLength(1);
    expect(t.result('webhook')).toMatchObject({ ok: true, attempts: 1 });
    const mail = t.result('email')!;
    expect(mail).toMatchObject({ channel: 'email', ok: false, attempts: 4 });
    expect(mail.error).toMatch(/ECONNREFUSED/);
    expect(t.log()).toMatch(/"level":"warn".*Alert delivery by e-mail to ops@company.com failed/);
    expect(t.log()).not.toContain(SMTP_PASS);
  });

  it('does not retry a permanent SMTP refusal or a wrong password', async () => {
    const refusing = await mailbox({ rejectRcpt: 550 });
    const a = dispatcher({ email: email(refusing.url) });
    a.d.send(warningMessage());
    await a.settled(1);
    expect(a.results[0]).toMatchObject({ channel: 'email', ok: false, attempts: 1 });
    expect(a.results[0]!.error).toMatch(/550/);
    expect(refusing.rcptAttempts()).toBe(1);

    const guarded = await mailbox({ auth: { user: SMTP_USER, pass: SMTP_PASS } });
    const wrong = guarded.url.replace(encodeURIComponent(SMTP_PASS), 'wrong-password-42');
    const b = dispatcher({ email: email(wrong) });
    b.d.send(warningMessage());
    await b.settled(1);
    expect(b.results[0]).toMatchObject({ channel: 'email', ok: false, attempts: 1 });
    expect(b.results[0]!.error).toMatch(/535/);
    expect(b.log()).not.toContain('wrong-password-42');
    expect(guarded.received).toEqual([]);
  });

  it('retries a transient SMTP refusal', async () => {
    const smtp = await mailbox({ rejectRcpt: 451 });
    const t = dispatcher({ email: email(smtp.url), retry: { attempts: 2, baseMs: 1, maxMs: 5 } });
    t.d.send(warningMessage());
    await t.settled(1);
    expect(t.results[0]).toMatchObject({ channel: 'email', ok: false, attempts: 2 });
    expect(smtp.rcptAttempts()).toBe(2);
  });

  it('close() gives up on a hung receiver after its bound and reports the abandoned delivery', async () => {
    const hook = await startWebhook([{ status: 0, hang: true }]);
    const t = dispatcher({ webhookUrl: hook.url, timeouts: { closeMs: 100 } });
    t.d.send(warningMessage());
    await vi.waitFor(() => expect(hook.requests).toHaveLength(1));
    await t.d.close();
    await t.settled(1);
    expect(t.results[0]).toMatchObject({ channel: 'webhook', ok: false, attempts: 1 });
    expect(t.results[0]!.error).toMatch(/abandoned/);

    t.d.send(warningMessage());
    await t.settled(2);
    expect(t.results[1]).toMatchObject({ channel: 'webhook', ok: false, attempts: 0, error: 'dispatcher closed' });
    expect(hook.requests).toHaveLength(1);
  });

  it('abandons a backoff wait at close() instead of holding shutdown', async () => {
    const hook = await startWebhook([{ status: 503 }]);
    const t = dispatcher({
      webhookUrl: hook.url,
      retry: { baseMs: 60_000, maxMs: 60_000, maxElapsedMs: null },
      timeouts: { closeMs: 50 },
      sleep: undefined,
    });
    t.d.send(warningMessage());
    await vi.waitFor(() => expect(hook.requests).toHaveLength(1));
    await t.d.close();
    await t.settled(1);
    expect(t.results[0]).toMatchObject({ channel: 'webhook', ok: false, attempts: 1 });
    expect(t.results[0]!.error).toMatch(/^HTTP 503; abandoned/);
  });

  it('times out a webhook that never answers and retries it', async () => {
    const hook = await startWebhook([{ status: 0, hang: true }, { status: 200 }]);
    const t = dispatcher({ webhookUrl: hook.url, timeouts: { webhookMs: 200 } });
    t.d.send(warningMessage());
    await t.settled(1);
    expect(t.results[0]).toMatchObject({ channel: 'webhook', ok: true, attempts: 2 });
  });

  it('keeps going when the result listener throws', async () => {
    const hook = await startWebhook();
    const t = dispatcher({
      webhookUrl: hook.url,
      onResult: () => {
        throw new Error('listener bug');
      },
    });
    t.d.send(warningMessage());
    await vi.waitFor(() => expect(t.log()).toContain('Alert result listener threw'));
    expect(hook.requests).toHaveLength(1);
  });

  it('does nothing without channels and rejects channel URLs it cannot use', async () => {
    const t = dispatcher();
    expect(t.d.channels).toEqual([]);
    t.d.send(warningMessage());
    await t.d.close();
    expect(t.results).toEqual([]);

    const logger = createLogger({ format: 'json', level: 'info', stream: new PassThrough() });
    expect(() => new AlertDispatcher({ webhookUrl: 'ftp://hooks.example/x', email: null, logger })).toThrow(/webhook_url/);
    expect(() => new AlertDispatcher({ webhookUrl: null, email: email('http://mail.example'), logger })).toThrow(/smtp_url/);
    expect(() => new AlertDispatcher({ webhookUrl: null, email: null, logger, retry: { attempts: 0 } })).toThrow(/attempts/);
  });
});
