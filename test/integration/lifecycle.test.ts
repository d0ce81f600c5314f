import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DEFAULTS } from '../../src/config/index.js';
import { ConfigError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { boot } from '../../src/runtime/index.js';
import { cliInProcess } from '../helpers/cli.js';
import { ROOT, startTestRuntime, tempDir, until, WsProbe } from '../helpers/runtime.js';

const HELLO = join(ROOT, 'demo/hello_agent.py');

describe('a supervised python agent, end to end', () => {
  it('runs to completion: REST and WebSocket show running then completed, events persisted', async () => {
    const t = await startTestRuntime({ agent: { script: HELLO }, config: { budgetMicros: 50_000_000 }, env: { HELLO_DELAY: '0.05' } });
    try {
      const id = t.rt.agentId!;
      expect(id).toMatch(/^he-[0-9a-f]{8}$/); // hello_agent.py → "he"
      const probe = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`);
      await probe.opened;

      const running = await until(async () => {
        const s = await (await t.api(`/api/agents/${id}/status`)).json();
        return s.status === 'running' ? s : null;
      });
      expect(running).toMatchObject({ id, name: 'hello_agent', status: 'running', restarts: 0 });
      expect(running.pid).toBeGreaterThan(0);
      expect(running.budget).toEqual({ limitUsd: 50, spentUsd: 0, reservedUsd: 0, waiting: 0 });

      const outcome = await t.rt.agentDone!;
      expect(outcome).toEqual({ status: 'completed', exitCode: 0 });
      const done = await (await t.api(`/api/agents/${id}/status`)).json();
      expect(done).toMatchObject({ status: 'completed', exitCode: 0, pid: null, progress: { done: 10, total: 10, unit: 'items' } });
      expect(Date.parse(done.endedAt)).toBeGreaterThanOrEqual(Date.parse(done.startedAt));

      await probe.waitForEvent((e) => e.type === 'agent.exited' && e.agentId === id);
      const states = probe
        .agentStates()
        .filter((a) => a.id === id)
        .map((a) => a.status);
      expect(states).toContain('running');
      expect(states.at(-1)).toBe('completed');
      expect(states.indexOf('running')).toBeLessThan(states.lastIndexOf('completed'));

      // The agent's own output and its SDK calls arrive as events, in order, with no gaps.
      const seqs = probe.events().map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
      const lines = probe
        .events()
        .filter((e) => e.type === 'agent.output')
        .map((e) => e.message);
      expect(lines).toContain('item 10/10 done');
      expect(probe.events().some((e) => e.type === 'agent.event' && e.message === 'hello agent finished')).toBe(true);

      const metrics = await (await t.api(`/api/agents/${id}/metrics`)).json();
      expect(metrics.progress).toMatchObject({ done: 10, total: 10, percent: 100 });
      expect(metrics.events.output).toBeGreaterThanOrEqual(11);
      expect(metrics.throughput.perHour).toBeGreaterThan(0);

      // Terminal lines are tagged with the agent id.
      expect(t.log()).toMatch(new RegExp(`\\[\\d\\d:\\d\\d:\\d\\d\\] INFO  ${id} Agent started \\(pid \\d+\\) budget \\$50\\.00`));
      expect(t.log()).toMatch(new RegExp(`INFO  ${id} item 10/10 done`));
      expect(t.log()).toMatch(new RegExp(`INFO  ${id} Agent completed \\(exit 0\\) in \\d+\\.\\ds`));
      await probe.close();
      const dbPath = t.rt.config.db;
      await t.rt.shutdown('test');

      // Persisted: a fresh connection to the file sees the run and its events.
      const db = new Database(dbPath, { readonly: true });
      const row = db.prepare('SELECT status, restarts FROM agents WHERE id = ?').get(id);
      expect(row).toEqual({ status: 'completed', restarts: 0 });
      const n = db.prepare("SELECT count(*) AS n FROM events WHERE agent_id = ? AND type = 'agent.output'").get(id) as { n: number };
      expect(n.n).toBe(lines.length);
      db.close();
    } finally {
      await t.stop();
    }
  });

  it('restarts a crashed agent within 5 s and it resumes from its checkpoint', async () => {
    const t = await startTestRuntime({ agent: { script: HELLO }, env: { HELLO_DELAY: '0.05', HELLO_CRASH_AT: '4' } });
    try {
      const id = t.rt.agentId!;
      const outcome = await t.rt.agentDone!;
      expect(outcome.status).toBe('completed');
      const { events } = await (await t.api(`/api/events?agentId=${id}&limit=1000`)).json();
      const crashed = events.find((e: any) => e.type === 'agent.exited' && e.data.status === 'crashed');
      const restarted = events.find((e: any) => e.type === 'agent.started' && e.data.attempt === 2);
      expect(crashed).toBeDefined();
      expect(restarted).toBeDefined();
      expect(Date.parse(restarted.ts) - Date.parse(crashed.ts)).toBeLessThan(5000);
      const out = events.filter((e: any) => e.type === 'agent.output').map((e: any) => e.message);
      expect(out).toContain('resumed from checkpoint: continuing at item 4 of 10');
      // Items 1-3 ran once, before the crash; nothing was redone after the restart.
      expect(out.filter((l: string) => l === 'item 2/10 done')).toHaveLength(1);
      expect(out).toContain('item 10/10 done');
      const status = await (await t.api(`/api/agents/${id}/status`)).json();
      expect(status).toMatchObject({ status: 'completed', restarts: 1, progress: { done: 10, total: 10 } });
      // Every restart message says where it starts from: this agent saved a checkpoint.
      const restarting = events.filter((e: any) => e.type === 'agent.restarting').map((e: any) => e.message);
      expect(restarting).toHaveLength(2);
      for (const m of restarting) expect(m).toMatch(/from its last checkpoint \(saved \d\d:\d\d:\d\d;/);
    } finally {
      await t.stop();
    }
  });

  it('gives up after the configured number of restarts and reports the crash', async () => {
    const t = await startTestRuntime({
      agent: { script: join(ROOT, 'test/fixtures/agents/always_crash.py') },
      config: { restart: { policy: 'on-failure', maxRestarts: 2, backoffMs: 50, maxBackoffMs: 100 } },
    });
    try {
      const id = t.rt.agentId!;
      // The status each exit left the agent in (the agent takes far longer to start and crash
      // than this subscription takes to be made).
      const after: string[] = [];
      t.rt.state.subscribe((e) => {
        if (e.type === 'agent.exited' && e.agentId === id) after.push(t.rt.state.getAgent(id)!.status);
      });
      const outcome = await t.rt.agentDone!;
      expect(outcome).toEqual({ status: 'crashed', exitCode: 3 });
      const s = await (await t.api(`/api/agents/${id}/status`)).json();
      expect(s).toMatchObject({ status: 'crashed', restarts: 2, exitCode: 3 });
      expect(t.log()).toContain('gave up after 2 restarts');
      // While a restart is pending the agent is restarting, not crashed; only giving up is a crash.
      expect(after).toEqual(['restarting', 'restarting', 'crashed']);
      // Each exit itself was a crash, and its event says so.
      const { events } = await (await t.api(`/api/events?agentId=${id}&limit=1000`)).json();
      expect(events.filter((e: any) => e.type === 'agent.exited').map((e: any) => e.data.status)).toEqual(['crashed', 'crashed', 'crashed']);
    } finally {
      await t.stop();
    }
  });

  it('says it restarts from the start when the agent saved no checkpoint', async () => {
    const t = await startTestRuntime({
      agent: { script: join(ROOT, 'test/fixtures/agents/always_crash.py') },
      config: { restart: { policy: 'on-failure', maxRestarts: 1, backoffMs: 50, maxBackoffMs: 50 } },
    });
    try {
      await t.rt.agentDone;
      const { events } = await (await t.api(`/api/events?agentId=${t.rt.agentId}&limit=1000`)).json();
      const restarting = events.filter((e: any) => e.type === 'agent.restarting').map((e: any) => e.message);
      expect(restarting).toEqual(['Restarting in 0.1s from the start (it saved no checkpoint) (restart 1 of 1)', 'Agent restarting from the start (it saved no checkpoint)']);
      expect(t.log()).not.toContain('checkpoint (saved');
    } finally {
      await t.stop();
    }
  });

  it('gives up after one restart on a crash that repeats itself before any work (a module with a syntax error), in one line', async () => {
    const t = await startTestRuntime({ agent: { script: join(ROOT, 'test/fixtures/agents/broken_import/agent.py') } });
    try {
      const id = t.rt.agentId!;
      const outcome = await t.rt.agentDone!;
      expect(outcome).toEqual({ status: 'crashed', exitCode: 1 });
      const s = await (await t.api(`/api/agents/${id}/status`)).json();
      expect(s).toMatchObject({ status: 'crashed', restarts: 1 });
      const { events } = await (await t.api(`/api/events?agentId=${id}&limit=1000`)).json();
      const last = events.filter((e: any) => e.type === 'agent.exited').at(-1);
      expect(last.message).toMatch(/with the same error as its last run, before doing anything: SyntaxError: .* not restarting it again/);
      // The traceback is on stderr: WARN in the event log and the terminal, not INFO.
      const stderr = events.filter((e: any) => e.type === 'agent.output' && e.data.stream === 'stderr');
      expect(stderr.length).toBeGreaterThan(0);
      expect(stderr.every((e: any) => e.severity === 'warn')).toBe(true);
      expect(t.log()).toMatch(/WARN {2}\S+ Traceback \(most recent call last\):/);
    } finally {
      await t.stop();
    }
  });

  it('keeps the full restart policy for an agent that got some work done before it crashed the same way', async () => {
    const t = await startTestRuntime({
      agent: { script: join(ROOT, 'test/fixtures/agents/crash_after_work.py') },
      config: { restart: { policy: 'on-failure', maxRestarts: 2, backoffMs: 50, maxBackoffMs: 100 } },
    });
    try {
      const outcome = await t.rt.agentDone!;
      expect(outcome).toEqual({ status: 'crashed', exitCode: 1 });
      expect(t.rt.state.getAgent(t.rt.agentId!)).toMatchObject({ restarts: 2 });
      expect(t.log()).toContain('gave up after 2 restarts');
      // stdout stays INFO.
      expect(t.log()).not.toMatch(/WARN .*never reached/);
    } finally {
      await t.stop();
    }
  });

  it('stops an agent through the API: SIGTERM, then it is stopped', async () => {
    const t = await startTestRuntime({ agent: { script: join(ROOT, 'test/fixtures/agents/sleeper.py') } });
    try {
      const id = t.rt.agentId!;
      await until(async () => (await (await t.api(`/api/agents/${id}/status`)).json()).status === 'running');
      await until(() => t.log().includes('sleeper ready'));
      const r = await t.api(`/api/agents/${id}/stop`, { method: 'POST' });
      expect(r.status).toBe(202);
      expect(await r.json()).toEqual({ id, status: 'stopping' });
      expect(await t.rt.agentDone!).toMatchObject({ status: 'stopped' });
      expect(t.log()).toContain('sleeper got SIGTERM');
      const again = await t.api(`/api/agents/${id}/stop`, { method: 'POST' });
      expect(again.status).toBe(409);
      expect((await again.json()).error.code).toBe('conflict');
    } finally {
      await t.stop();
    }
  });

  it('an agent without the SDK lives through SIGUSR1, the signal that announces rotated secrets', async () => {
    const t = await startTestRuntime({ agent: { script: join(ROOT, 'test/fixtures/agents/sleeper.py') } });
    try {
      await until(() => t.log().includes('sleeper ready'));
      const id = t.rt.agentId!;
      const { pid } = await (await t.api(`/api/agents/${id}/status`)).json();
      process.kill(pid, 'SIGUSR1');
      // Still there to take the stop: it answers SIGTERM, which a dead process cannot.
      expect((await t.api(`/api/agents/${id}/stop`, { method: 'POST' })).status).toBe(202);
      expect(await t.rt.agentDone!).toMatchObject({ status: 'stopped' });
      expect(t.log()).toContain('sleeper got SIGTERM');
    } finally {
      await t.stop();
    }
  });

  it('keeps earlier runs and their events across a restart of iron-cage', async () => {
    const first = await startTestRuntime({ agent: { script: HELLO }, env: { HELLO_DELAY: '0' } });
    const dir = first.dir;
    const id = first.rt.agentId!;
    await first.rt.agentDone;
    await first.rt.shutdown('first run over');
    const second = await startTestRuntime({ dir });
    try {
      const agents = await (await second.api('/api/agents')).json();
      expect(agents.map((a: any) => a.id)).toContain(id);
      const { events } = await (await second.api(`/api/events?agentId=${id}&limit=1000`)).json();
      expect(events.some((e: any) => e.message === 'item 10/10 done')).toBe(true);
    } finally {
      await second.stop();
      first.stop().catch(() => {});
    }
  });

  it('a start refused for a port in use leaves the folder as it found it: no state file, key or folder is made, an existing one keeps its runs', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as AddressInfo).port;
    const { dir, cleanup } = tempDir();
    const logger = createLogger({ format: 'json', level: 'error' });
    const refused = (db: string) => boot({ ...DEFAULTS, host: '127.0.0.1', port, db }, undefined, { logger });
    try {
      await expect(refused(join(dir, 'new/deeper/iron_state.db'))).rejects.toThrow(new ConfigError(`--port: 127.0.0.1:${port} is already in use (choose another port with --port)`));
      expect(readdirSync(dir)).toEqual([]);
      // A state file `token create` made has no key files yet: a refused start makes none either.
      const made = join(dir, 'made.db');
      expect((await cliInProcess(['token', 'create', '--name', 'ci', '--role', 'viewer', '--db', made])).code).toBe(0);
      await expect(refused(made)).rejects.toBeInstanceOf(ConfigError);
      expect(readdirSync(dir).filter((f) => f.startsWith('made.db'))).toEqual(['made.db']);
      // A key file that is no key file: one line naming it (it was a stack), the folder in its place not chmod-ed.
      mkdirSync(`${made}.audit.key`, { mode: 0o755 });
      await expect(boot({ ...DEFAULTS, host: '127.0.0.1', port: 0, db: made }, undefined, { logger })).rejects.toThrow(new ConfigError(`key file ${made}.audit.key: cannot read it (a folder)`));
      expect(statSync(`${made}.audit.key`).mode & 0o777).toBe(0o755);
      expect(
        readdirSync(dir)
          .filter((f) => f.startsWith('made.db'))
          .sort(),
      ).toEqual(['made.db', 'made.db.audit.key', 'made.db.key']);
      rmdirSync(`${made}.audit.key`);
      const first = await startTestRuntime({ dir, agent: { script: HELLO }, env: { HELLO_DELAY: '0' } });
      await first.rt.agentDone;
      await first.rt.shutdown('first run over');
      const db = join(dir, 'iron_state.db');
      const count = () => {
        const d = new Database(db, { readonly: true });
        try {
          return d.prepare('SELECT (SELECT COUNT(*) FROM agents) AS agents, (SELECT COUNT(*) FROM events) AS events').get() as { agents: number; events: number };
        } finally {
          d.close();
        }
      };
      const before = count();
      expect(before.agents).toBe(1);
      await expect(refused(db)).rejects.toBeInstanceOf(ConfigError);
      for (const f of [db, `${db}.key`, `${db}.audit.key`]) expect(existsSync(f), f).toBe(true);
      expect(count().agents).toBe(1);
      expect(count().events).toBeGreaterThanOrEqual(before.events);
    } finally {
      busy.close();
      cleanup();
    }
  });
});
