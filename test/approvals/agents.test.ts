import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcpSchema } from '../../src/config/mcp.js';
import { policiesSchema, policySet } from '../../src/config/policies.js';
import { toolsSchema } from '../../src/config/tools.js';
import { FakeService } from '../helpers/http.js';
import { startMcpFixture } from '../helpers/mcp.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

// Tool policies and approvals with real agents under the runtime: a Python agent on the SDK's tools (held, denied,
// refused by a rule, asked ahead) and a Node agent on the official MCP client against a real MCP
// server. A person's decisions are made over REST as the test sees each request arrive.

const FIXTURES = join(import.meta.dirname, 'fixtures');

/** Decide each pending approval as it arrives: `decide` says approve or deny (with a reason), or leaves it. */
function approver(t: TestRuntime, decide: (p: any) => { decision: 'approve' | 'deny'; reason?: string } | null): () => void {
  let on = true;
  const done = new Set<string>();
  void (async () => {
    while (on) {
      const r = await t.api('/api/approvals?status=pending').catch(() => null);
      const list = r?.ok ? (((await r.json()) as any).approvals as any[]) : [];
      for (const p of list) {
        if (done.has(p.id)) continue;
        const d = decide(p);
        if (!d) continue;
        done.add(p.id);
        await t.api(`/api/approvals/${p.id}/${d.decision}`, { method: 'POST', body: JSON.stringify(d.reason ? { reason: d.reason } : {}) });
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  })();
  return () => {
    on = false;
  };
}

const outputs = (t: TestRuntime): any[] =>
  t.rt.state
    .lastEvents(2000, t.rt.agentId!)
    .filter((e) => e.type === 'agent.output' && e.message.startsWith('{'))
    .map((e) => JSON.parse(e.message));

describe('a Python agent on iron_cage.tools under policies', () => {
  let svc: FakeService;
  let t: TestRuntime;
  let stop: () => void;

  beforeAll(async () => {
    svc = await FakeService.start();
    t = await startTestRuntime({
      config: {
        tools: toolsSchema.parse({ crm: { url: svc.url }, hr: { url: svc.url } }),
        policies: policySet(
          policiesSchema.parse([
            { name: 'crm-writes', match: { tool: 'crm.*', method: ['POST', 'PUT', 'DELETE'] }, action: 'approve', timeout: '60s' },
            { name: 'no-hr', match: { tool: 'hr.*' }, action: 'deny', reason: 'HR data is off limits' },
          ]),
        ),
      },
      agent: { script: join(FIXTURES, 'approvals_agent.py') },
    });
    stop = approver(t, (p) => (p.tool === 'contacts/7' ? { decision: 'deny', reason: 'keep that contact' } : { decision: 'approve' }));
  }, 60_000);

  afterAll(async () => {
    stop?.();
    await t?.stop();
    await svc?.close();
  });

  it('waits for each decision, gets clear errors, and a call approved ahead goes straight through', async () => {
    const outcome = await t.rt.agentDone!;
    const out = outputs(t);
    expect(outcome.status, JSON.stringify(out)).toBe('completed');
    const by = Object.fromEntries(out.map((o) => [o.step, o]));
    expect(by.held).toEqual({ step: 'held', status: 200 });
    expect(by.denied).toMatchObject({ code: 'approval_denied', message: expect.stringMatching(/keep that contact/) });
    expect(by.rule).toMatchObject({ code: 'policy_denied', message: expect.stringMatching(/no-hr: HR data is off limits/) });
    expect(by.free).toEqual({ step: 'free', status: 'not_needed', approved: true, needed: false });
    expect(by.ahead).toMatchObject({ status: 'approved', approved: true, by: expect.stringMatching(/^admin /) });
    expect(by.after).toEqual({ step: 'after', status: 200 });
    // The service saw the approved write and the deal, nothing denied or refused.
    expect(svc.seen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /contacts', 'POST /deals']);
    // The run summary's figures.
    const totals = (await (await t.api(`/api/agents/${t.rt.agentId}/approvals`)).json()) as any;
    expect(totals).toMatchObject({ approved: 1, denied: 1, expired: 0, refusedByPolicy: 1 });
    // /metrics counts decisions by rule.
    const metrics = await (await t.api('/metrics')).text();
    expect(metrics).toMatch(/iron_cage_policy_decisions_total\{rule="crm-writes",decision="approve"\} 2/);
    expect(metrics).toMatch(/iron_cage_policy_decisions_total\{rule="no-hr",decision="deny"\} 1/);
    expect(metrics).toMatch(/iron_cage_approval_wait_seconds_count\{rule="crm-writes",outcome="denied"\} 1/);
  });
});

describe('a Node agent on the MCP SDK under policies', () => {
  let upstream: ChildProcess;
  let t: TestRuntime;
  let stop: () => void;

  beforeAll(async () => {
    let url: string;
    ({ url, child: upstream } = await startMcpFixture('http'));
    t = await startTestRuntime({
      config: {
        mcp: mcpSchema.parse({ servers: { web: { url } } }),
        policies: policySet(
          policiesSchema.parse([
            { name: 'echo-needs-a-person', match: { mcp: 'web.*', tool: 'echo' }, action: 'approve', timeout: '60s' },
            { match: { mcp: 'web.delete_*' }, action: 'deny' },
          ]),
        ),
      },
      agent: { script: join(FIXTURES, 'mcp_agent.mjs') },
    });
    stop = approver(t, (p) => (p.args.includes('ship it') ? { decision: 'approve' } : { decision: 'deny', reason: 'not now' }));
  }, 60_000);

  afterAll(async () => {
    stop?.();
    await t?.stop();
    upstream?.kill();
  });

  it('holds a tools/call for a person, refuses by rule, and records each', async () => {
    const outcome = await t.rt.agentDone!;
    const out = outputs(t);
    expect(outcome.status, JSON.stringify(out)).toBe('completed');
    const by = Object.fromEntries(out.map((o) => [o.step, o]));
    expect(by.free.text).toContain('Oslo');
    expect(by.held).toEqual({ step: 'held', text: 'echo: ship it' });
    expect(by.denied).toMatchObject({ reason: 'approval_denied', error: expect.stringMatching(/not now/) });
    expect(by.rule).toMatchObject({ reason: 'policy_denied', error: expect.stringMatching(/policies\[1\]/) });
    const approvals = ((await (await t.api('/api/approvals?status=decided')).json()) as any).approvals;
    expect(approvals.map((a: any) => [a.kind, a.service, a.tool, a.status])).toEqual([
      ['mcp', 'web', 'echo', 'denied'],
      ['mcp', 'web', 'echo', 'approved'],
    ]);
  });
});
