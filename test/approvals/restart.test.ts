import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policiesSchema, policySet } from '../../src/config/policies.js';
import { toolsSchema } from '../../src/config/tools.js';
import { cli, freePort, launchCli, type LaunchedCli } from '../helpers/cli.js';
import { FakeService } from '../helpers/http.js';
import { agentToken, dashboardSession, startTestRuntime, tempDir, until } from '../helpers/runtime.js';

// Iron-cage stopping while a call waits for a person. Stopped gracefully, the caller is
// answered (403 approval_expired, "iron-cage stopped"); killed, the next start closes what the
// last run left waiting and says so. Either way nothing reaches the service.

let svc: FakeService;
beforeAll(async () => {
  svc = await FakeService.start();
});
afterAll(async () => {
  await svc?.close();
});

const rules = [{ name: 'writes', match: { tool: 'crm.*', method: 'POST' }, action: 'approve', timeout: '5m' }];

describe('iron-cage stopping while a call waits for approval', () => {
  it('stopped: the waiting caller gets a clear refusal, and the approval is closed and said', async () => {
    const t = await startTestRuntime({ config: { tools: toolsSchema.parse({ crm: { url: svc.url } }), policies: policySet(policiesSchema.parse(rules)) } });
    const a = await agentToken(t);
    const answer = fetch(`${t.rt.url}/tools/crm/contacts`, { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: '{"name":"Ada"}' });
    const p = await until(async () => (((await (await t.api('/api/approvals?status=pending')).json()) as any).approvals as any[])[0]);
    const said: string[] = [];
    t.rt.state.subscribe((e) => {
      if (e.type === 'approval.decided' && (e.data as { id: string }).id === p.id) said.push(e.message);
    });
    const stopping = t.stop();
    const r = await answer;
    expect(r.status).toBe(403);
    expect(((await r.json()) as any).error).toMatchObject({ code: 'approval_expired', message: expect.stringMatching(/was not sent: iron-cage stopped while it waited/) });
    await stopping;
    expect(said).toEqual([expect.stringMatching(/^Approval expired: crm POST \/contacts \(iron-cage stopped while it waited\); nothing was sent$/)]);
    expect(svc.seen).toHaveLength(0);
  });

  // Two cold starts of the CLI, each waited on for up to 30 s: 22 s of a 30 s limit in a loaded full run.
  it('killed: the next start closes the approval the last run left waiting (expired, said), and nothing was sent', { timeout: 90_000 }, async () => {
    const { dir, cleanup } = tempDir();
    const db = join(dir, 'iron_state.db');
    const config = join(dir, 'iron-cage.yaml');
    writeFileSync(config, JSON.stringify({ tools: { crm: { url: svc.url } }, policies: rules }));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const start = (): LaunchedCli => launchCli(['serve', '--db', db, '--port', String(port), '--host', '127.0.0.1', '--config', config]);
    let run = start();
    try {
      await until(() => run.out().includes('Tool policies: 1 rule (1 asking for approval), default allow'), 30_000);
      const admin = await dashboardSession(db, url);
      const api = (path: string, init: RequestInit = {}) => fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' } });
      const made = (await (await api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'held' }) })).json()) as any;
      const answer = fetch(`${url}/tools/crm/contacts`, { method: 'POST', headers: { authorization: `Bearer ${made.token}` }, body: '{}' }).catch((e: unknown) => e);
      const p = await until(async () => (((await (await api('/api/approvals?status=pending')).json()) as any).approvals as any[])[0]);
      run.child.kill('SIGKILL');
      await run.exited;
      expect(await answer).toBeInstanceOf(Error);
      run = start();
      await until(() => run.out().includes('left waiting by the last run closed as expired'), 30_000);
      const admin2 = await dashboardSession(db, url);
      const after = (await (await fetch(`${url}/api/approvals/${p.id}`, { headers: { authorization: `Bearer ${admin2}` } })).json()) as any;
      expect(after).toMatchObject({ status: 'expired', reason: expect.stringMatching(/iron-cage stopped while it waited/) });
      expect(svc.seen).toHaveLength(0);
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
      cleanup();
    }
  });
});

describe('iron-cage start with policies', () => {
  it('counts what the policies held and refused in its run summary', { timeout: 90_000 }, async () => {
    const { dir, cleanup } = tempDir();
    try {
      const config = join(dir, 'iron-cage.yaml');
      writeFileSync(
        config,
        JSON.stringify({
          tools: { crm: { url: svc.url }, hr: { url: svc.url } },
          policies: [
            { match: { tool: 'hr.*' }, action: 'deny' },
            { match: { tool: 'crm.*', method: 'POST' }, action: 'approve', timeout: '1s' },
          ],
        }),
      );
      const r = await cli(['start', join(import.meta.dirname, 'fixtures/policy_summary_agent.py'), '--exit', '--port', '0', '--db', join(dir, 's.db'), '--config', config]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Tool policies: 2 rules \(1 asking for approval\), default allow/);
      const table = r.stdout.slice(r.stdout.indexOf('\nRun summary\n'));
      expect(table).toMatch(/^Approvals +1 expired \(waited 1s in all\); 1 call refused by a policy rule$/m);
      expect(svc.seen).toHaveLength(0);
    } finally {
      cleanup();
    }
  });
});
