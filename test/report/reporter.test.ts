import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { PanelClient, Reporter, type ReporterOptions } from '../../src/report/index.js';
import { ReportStore } from '../../src/state/index.js';
import { storeDb } from '../../src/state/runtime/manager.js';
import { events, llmRequests } from '../../src/state/schema.js';
import { agentToken, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';
import { Receiver } from './receiver.js';

// The reporter against a small panel that keeps the contract's rules (receiver.ts), over real
// HTTP, fed by a real runtime making real gateway calls on the simulated provider: every ledger
// row arrives once and in order; a panel that is away, hangs, fails or refuses never makes a
// call wait; a panel that went back in time is resumed from where it says it stands.

const INSTANT = { gateway: { ...DEFAULTS.gateway, providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 0, chunkDelayMs: 0, failures: [] } } } } satisfies Partial<Config>;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function receiver(tls: { key: string; cert: string } | null = null): Promise<Receiver> {
  const r = new Receiver(tls);
  await r.start();
  cleanups.push(() => r.stop());
  return r;
}

async function runtime(config: Partial<Config> = {}): Promise<TestRuntime> {
  const t = await startTestRuntime({ config: { ...INSTANT, ...config } });
  cleanups.push(() => t.stop());
  return t;
}

/** A reporter on the runtime's state, tuned so a test's outage lasts a second, not a minute. */
function reporter(t: TestRuntime, panel: Receiver, o: Partial<ReporterOptions> = {}): Reporter {
  const client = new PanelClient({ url: panel.url, token: () => panel.token, timeoutMs: 5_000 });
  const r = new Reporter({
    store: new ReportStore(t.rt.state),
    state: t.rt.state,
    client,
    url: panel.url,
    lingerMs: 20,
    intervalMs: 20,
    pollMs: 200,
    backoff: { baseMs: 50, maxMs: 400 },
    slowMs: 300,
    flushMs: 300,
    ...o,
  });
  cleanups.push(() => r.close());
  return r;
}

/** One chat completion through the gateway, as the agent's SDK sends it; its latency in ms. */
async function chat(t: TestRuntime, token: string): Promise<number> {
  const started = performance.now();
  const r = await fetch(`${t.rt.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hi' }], max_tokens: 20 }),
  });
  expect(r.status).toBe(200);
  await r.text();
  return performance.now() - started;
}

const calls = async (t: TestRuntime, token: string, n: number): Promise<number[]> => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await chat(t, token));
  return out;
};

/** The runtime's own ledger, read straight from its state file. */
function ledger(t: TestRuntime) {
  const { orm } = storeDb(t.rt.state);
  return { events: orm.select().from(events).all(), llmRequests: orm.select().from(llmRequests).all() };
}

/** Until the panel holds every event and call the runtime has written (rows keep coming: read both again each time). */
const allArrived = (t: TestRuntime, panel: Receiver) =>
  until(() => {
    const l = ledger(t);
    return panel.cursor.eventSeq === l.events.at(-1)?.seq && panel.cursor.llmRequestId === (l.llmRequests.at(-1)?.id ?? 0);
  }, 20_000);

/** Every row of the ledger is on the panel, equal to the runtime's, and none arrived twice. */
function expectWholeLedger(t: TestRuntime, panel: Receiver): void {
  const l = ledger(t);
  const upTo = panel.cursor.eventSeq;
  expect([...panel.events.keys()]).toEqual(l.events.filter((e) => e.seq <= upTo).map((e) => e.seq));
  expect([...panel.llmRequests.values()]).toEqual(JSON.parse(JSON.stringify(l.llmRequests)));
  expect(panel.problems).toEqual([]);
  expect(panel.taken.map((b) => b.seq)).toEqual(panel.taken.map((_, i) => i + 1));
}

const said = (t: TestRuntime, type: string) => ledger(t).events.filter((e) => e.type === type);

describe('the reporter', () => {
  it('sends every ledger row once, in order, with the agents they name, through --panel', async () => {
    const panel = await receiver();
    const t = await runtime({ panel: { url: panel.url, token: panel.token, ca: null } });
    const a = await agentToken(t);
    await calls(t, a.token, 12);
    await allArrived(t, panel);
    expectWholeLedger(t, panel);
    expect(panel.repeats).toEqual([]);
    expect(panel.agents.get(a.agentId)).toMatchObject({ id: a.agentId, kind: 'external' });
    expect(panel.taken.every((b) => b.hostname && b.version)).toBe(true);
    expect(t.log()).toContain(`Telemetry goes to the panel ${panel.url}`);
    // A panel that never went away: nothing said about being behind.
    expect(said(t, 'panel.behind')).toEqual([]);
  });

  /** A busy agent's pace between two calls: forty a second keep the rows coming (back to back, the loop only burnt a core for seconds). */
  const steady = () => new Promise((r) => setTimeout(r, 25));

  it('sends a batch a second while calls keep coming (the default interval), not a batch a call', async () => {
    const panel = await receiver();
    // The runtime's own reporter, with its defaults: what a panel sees from a busy runtime.
    const t = await runtime({ panel: { url: panel.url, token: panel.token, ca: null } });
    const a = await agentToken(t);
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < 3_000) {
      await chat(t, a.token);
      n++;
      await steady();
    }
    await allArrived(t, panel);
    expectWholeLedger(t, panel);
    // Tens of calls in 3 s, in a handful of batches (one soon after the first row, then one a second).
    expect(n).toBeGreaterThan(15);
    expect(panel.taken.length).toBeLessThanOrEqual(6);
  });

  it('follows a busy panel’s pace: no batch before the pace its last ack asked for, every row still sent once', async () => {
    const panel = await receiver();
    panel.paceMs = 1_500;
    const t = await runtime({ panel: { url: panel.url, token: panel.token, ca: null } });
    const a = await agentToken(t);
    const t0 = performance.now();
    while (performance.now() - t0 < 3_500) {
      await chat(t, a.token);
      await steady();
    }
    panel.paceMs = null;
    await allArrived(t, panel);
    expectWholeLedger(t, panel);
    // Batches at least 1.5 s apart while the pace held (the first soon after the first row).
    const at = panel.requests.filter((r) => r.method === 'POST').map((r) => r.at);
    const early = at.filter((x) => x < t0 + 3_500);
    for (let i = 1; i < early.length; i++) expect(early[i]! - early[i - 1]!).toBeGreaterThanOrEqual(1_450);
    expect(early.length).toBeLessThanOrEqual(4);
  });

  it('makes a last attempt at shutdown: the server.stopping event reaches the panel', async () => {
    const panel = await receiver();
    const t = await runtime({ panel: { url: panel.url, token: panel.token, ca: null } });
    const a = await agentToken(t);
    await calls(t, a.token, 3);
    await t.rt.shutdown('test finished');
    const stopping = [...panel.events.values()].find((e) => e.type === 'server.stopping');
    expect(stopping).toBeDefined();
    expect(panel.llmRequests.size).toBe(3);
    expect(panel.problems).toEqual([]);
  });

  it('keeps rows on disk while the panel is unreachable, says so once, and catches up in order once it is back; calls never wait', async () => {
    const panel = await receiver();
    const t = await runtime();
    const a = await agentToken(t);
    const r = reporter(t, panel);
    r.start();
    await calls(t, a.token, 3);
    await allArrived(t, panel);

    await panel.stop();
    const during = await calls(t, a.token, 20);
    // The reporter has tried and said it is behind, once, naming the cause and the rows waiting.
    const behind = await until(() => said(t, 'panel.behind')[0]);
    expect(behind.message).toMatch(new RegExp(`^panel ${panel.url} unreachable \\(ECONNREFUSED\\): \\d+ rows? waiting on disk; the agent runs on$`));
    await calls(t, a.token, 5);
    // Every call of the outage was answered while the panel was still down: none waited on it.
    expect(during).toHaveLength(20);
    expect(panel.llmRequests.size).toBe(3);

    await panel.start();
    await allArrived(t, panel);
    expectWholeLedger(t, panel);
    expect(panel.repeats).toEqual([]);
    const caught = await until(() => said(t, 'panel.caught_up')[0]);
    expect(caught.message).toMatch(new RegExp(`^caught up with the panel ${panel.url}: \\d+ rows sent after \\d+ s$`));
    expect(JSON.parse(caught.data).sent).toBeGreaterThanOrEqual(25);
    expect(said(t, 'panel.behind')).toHaveLength(1);
    expect(said(t, 'panel.caught_up')).toHaveLength(1);
    // Both were said on the terminal too (the events are its lines).
    expect(t.log()).toContain(behind.message);
    expect(t.log()).toContain(caught.message);
  });

  it('a panel that accepts and never answers holds up nothing but the reporter', async () => {
    const panel = await receiver();
    const t = await runtime();
    const a = await agentToken(t);
    panel.mode = 'hang';
    const r = reporter(t, panel);
    r.start();
    await calls(t, a.token, 2);
    await until(() => panel.requests.length > 0);
    // The hello hangs, and the agent's calls are answered all the same.
    expect(await calls(t, a.token, 10)).toHaveLength(10);
    expect(panel.taken).toEqual([]);
  });

  it('sends the same batch again after a lost answer, and moves on when the panel says it is a duplicate', async () => {
    const panel = await receiver();
    const t = await runtime();
    const a = await agentToken(t);
    const r = reporter(t, panel);
    r.start();
    await allArrived(t, panel);
    panel.mode = 'lose-ack';
    await calls(t, a.token, 4);
    await allArrived(t, panel);
    const lost = panel.requests.find((q) => q.method === 'POST' && q.status === 0)!;
    const again = panel.requests.filter((q) => q.method === 'POST' && q.seq === lost.seq);
    // Byte for byte the batch it could not confirm, answered as a duplicate.
    expect(again.length).toBeGreaterThanOrEqual(2);
    expect(again.every((q) => q.body === lost.body)).toBe(true);
    expect(again.at(-1)!.status).toBe(200);
    expectWholeLedger(t, panel);
  });

  it('waits out a 503 with Retry-After, then sends the same batch', async () => {
    const panel = await receiver();
    const t = await runtime();
    const a = await agentToken(t);
    const r = reporter(t, panel);
    r.start();
    await allArrived(t, panel);
    panel.mode = { status: 503, retryAfter: '1', body: JSON.stringify({ error: { code: 'unavailable', message: 'the database is away' } }) };
    await calls(t, a.token, 3);
    const refused = await until(() => panel.requests.find((q) => q.status === 503));
    const behind = await until(() => said(t, 'panel.behind')[0]);
    expect(behind.message).toContain('unavailable (HTTP 503: the database is away)');
    panel.mode = 'ok';
    await allArrived(t, panel);
    const next = panel.requests.find((q) => q.at > refused.at && q.status === 200)!;
    // Not before the second the panel asked for (the clock may round down a little).
    expect(next.at - refused.at).toBeGreaterThanOrEqual(900);
    expect(next.body).toBe(refused.body);
    expectWholeLedger(t, panel);
  });

  it('resumes from where the panel says it stands after a 409 (a panel restored from an older backup)', async () => {
    const panel = await receiver();
    const t = await runtime();
    const a = await agentToken(t);
    const r = reporter(t, panel, { batchRows: 5 });
    r.start();
    await calls(t, a.token, 8);
    await allArrived(t, panel);
    const before = panel.taken.length;
    expect(before).toBeGreaterThanOrEqual(3);
    panel.rollBackTo(1);
    await calls(t, a.token, 4);
    await allArrived(t, panel);
    // The runtime sent seq `before + 1`, was told 409, asked again, and sent from batch 2's rows on.
    expect(panel.requests.some((q) => q.status === 409 && q.seq === before + 1)).toBe(true);
    expect(panel.requests.filter((q) => q.method === 'GET').length).toBeGreaterThanOrEqual(2);
    expectWholeLedger(t, panel);
  });

  it('says once what is wrong with a refused token, keeps the agent going, and sends once it is fixed', async () => {
    const panel = await receiver();
    const t = await runtime({ panel: { url: panel.url, token: 'ic_rt_revoked', ca: null } });
    const a = await agentToken(t);
    await calls(t, a.token, 3);
    const refused = await until(() => said(t, 'panel.refused')[0]);
    expect(refused.severity).toBe('error');
    expect(refused.message).toContain(`panel ${panel.url} refused the runtime token (HTTP 401: unknown or revoked token)`);
    expect(refused.message).toContain('--panel-token (IRON_CAGE_PANEL_TOKEN)');
    expect(refused.message).not.toContain('ic_rt_revoked');
    expect(t.log()).toContain(refused.message);
    expect(await calls(t, a.token, 3)).toHaveLength(3);
  });

  it('with a tuned reporter, a refused token is tried again slowly and said once; a fixed one catches up', async () => {
    const panel = await receiver();
    const t = await runtime();
    const a = await agentToken(t);
    let token = 'ic_rt_wrong';
    const client = new PanelClient({ url: panel.url, token: () => token, timeoutMs: 5_000 });
    const r = new Reporter({
      store: new ReportStore(t.rt.state),
      state: t.rt.state,
      client,
      url: panel.url,
      lingerMs: 20,
      intervalMs: 20,
      pollMs: 200,
      backoff: { baseMs: 50, maxMs: 400 },
      slowMs: 100,
    });
    cleanups.push(() => r.close());
    r.start();
    await calls(t, a.token, 2);
    await until(() => panel.requests.filter((q) => q.status === 401).length >= 3);
    expect(said(t, 'panel.refused')).toHaveLength(1);
    token = panel.token;
    await allArrived(t, panel);
    expectWholeLedger(t, panel);
    // Said once the reporter has the panel's answer (just after the rows landed there).
    await until(() => said(t, 'panel.caught_up').length === 1);
    await calls(t, a.token, 2);
    await allArrived(t, panel);
    expect(said(t, 'panel.caught_up')).toHaveLength(1);
    expect(said(t, 'panel.refused')).toHaveLength(1);
  });

  it('says plainly, once, that the panel refused a batch charging a central budget not leased to it, and sends that batch again slowly', async () => {
    const panel = await receiver();
    const t = await runtime();
    const a = await agentToken(t);
    const r = reporter(t, panel, { slowMs: 150 });
    r.start();
    await calls(t, a.token, 1);
    await allArrived(t, panel);
    const why = "call id 2 (agent 'lead-gen') names budget 'bob-total' window 0: no budget of that name covers runtime 'rt-test'; nothing of this batch was stored";
    panel.mode = { status: 400, body: JSON.stringify({ error: { code: 'budget_not_covered', message: why } }) };
    await calls(t, a.token, 2);
    await until(() => panel.requests.filter((q) => q.status === 400).length >= 3);
    const refused = said(t, 'panel.refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]!.severity).toBe('error');
    expect(refused[0]!.message).toContain(`panel ${panel.url} refused a batch (HTTP 400: ${why}): a call in it is charged to a central budget the panel says it never leased to this runtime`);
    expect(refused[0]!.message).not.toContain('another version');
    // The same batch each time, never a later one past it; the agent's calls go on.
    expect(new Set(panel.requests.filter((q) => q.status === 400).map((q) => q.seq)).size).toBe(1);
    expect(await calls(t, a.token, 2)).toHaveLength(2);
    panel.mode = 'ok';
    await allArrived(t, panel);
    expectWholeLedger(t, panel);
  });

  it('says hello when it has had nothing to send for a while, so the panel sees an idle runtime alive', async () => {
    const panel = await receiver();
    const t = await runtime();
    const a = await agentToken(t);
    const r = reporter(t, panel, { heartbeatMs: 300 });
    r.start();
    await calls(t, a.token, 2);
    await allArrived(t, panel);
    const hellos = () => panel.requests.filter((q) => q.method === 'GET').length;
    const before = hellos();
    await until(() => hellos() >= before + 2);
    // Hellos, not batches sent again: nothing arrived twice, the ledger is still whole.
    expect(panel.repeats).toEqual([]);
    expect(panel.problems).toEqual([]);
    expectWholeLedger(t, panel);
  });

  it('sends nothing from a new or reset state file the panel already holds more rows of, and says so once', async () => {
    const panel = await receiver();
    // The panel holds this runtime's rows far beyond what the fresh state file ever wrote.
    panel.lastSeq = 40;
    panel.cursor = { eventSeq: 50_000, llmRequestId: 20_000, toolCallId: 0 };
    const t = await runtime();
    const a = await agentToken(t);
    const r = reporter(t, panel, { slowMs: 100 });
    r.start();
    await calls(t, a.token, 2);
    await until(() => panel.requests.filter((q) => q.method === 'GET').length >= 3);
    expect(panel.requests.filter((q) => q.method === 'POST')).toEqual([]);
    const refused = said(t, 'panel.refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]!.message).toMatch(/a new or reset state file reports as a runtime that already reported/);
  });

  it('reaches an https panel with a self-signed certificate through --panel-ca, and says what is wrong without it', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(async () => cleanup());
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const args = '-x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=panel -addext subjectAltName=IP:127.0.0.1 -days 1'.split(' ');
    execFileSync('openssl', ['req', ...args, '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const panel = await receiver({ key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') });
    const t = await runtime({ panel: { url: panel.url, token: panel.token, ca: cert } });
    const a = await agentToken(t);
    await calls(t, a.token, 3);
    await allArrived(t, panel);
    expectWholeLedger(t, panel);

    // The same panel without its CA: the certificate is refused, and that is what is said.
    const untrusted = new Reporter({ store: new ReportStore(t.rt.state), state: t.rt.state, client: new PanelClient({ url: panel.url, token: () => panel.token }), url: panel.url, flushMs: 300 });
    cleanups.push(() => untrusted.close());
    untrusted.start();
    const behind = await until(() => said(t, 'panel.behind')[0]);
    expect(behind.message).toMatch(/unreachable \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\)/);
  });
});
