import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { lookAgain } from '../../src/demo/run.js';
import { agentToken, dashboardSession, ROOT, startTestRuntime, tempDir, until } from '../helpers/runtime.js';
import { FakeService } from '../helpers/http.js';

// `iron-cage serve --db` on a state file a run with another config wrote (as the demo suggests
// "to look again"): the breakers and what their fallbacks saved are the recorded ones, and the
// vault opens with the key the command sets.

const CLI = join(ROOT, 'bin/iron-cage.js');
const KEY = 'a demo key (with spaces)';

async function serve(db: string, dir: string, env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--db', db, '--log-format', 'json'], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  const url = await until(() => /dashboard (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1], 15_000, 10);
  const session = await dashboardSession(db, url);
  const get = async (path: string) => {
    const r = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${session}` } });
    return { status: r.status, body: (await r.json()) as any };
  };
  const stop = async () => {
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGINT');
    return exited;
  };
  return { get, stop, out: () => out };
}

describe('serve on a recorded state file', () => {
  it('shows the breakers the run recorded, OPEN, with what their fallbacks saved, and opens the vault with the key set for the command', async () => {
    const { dir, cleanup } = tempDir();
    const upstream = await FakeService.start();
    upstream.reply = () => ({ status: 429, headers: { 'content-type': 'application/json' }, body: '{"error":"slow down"}' });
    try {
      const yaml = join(dir, 'run.yaml');
      writeFileSync(
        yaml,
        `tools:\n  linkedin:\n    url: "${upstream.url}/v2"\n    cost_per_call_usd: 0.10\n    placeholder: { profile: null }\n    breaker: { failure_threshold: 2, cooldown_s: 3600 }\n`,
      );
      const runConfig = loadConfig({ configPath: yaml, flags: {} });
      const t = await startTestRuntime({ dir, config: { tools: runConfig.tools }, env: { IRON_CAGE_MASTER_KEY: KEY } });
      const db = join(dir, 'iron_state.db');
      try {
        const a = await agentToken(t);
        // 2 failures open the circuit; the next 3 are blocked and answered by the placeholder.
        for (let i = 0; i < 5; i++) {
          const r = await fetch(`${t.rt.url}/tools/linkedin/people/${i}`, { headers: { authorization: `Bearer ${a.token}` } });
          expect(r.status).toBe(200);
        }
        const s = await t.api('/api/secrets', { method: 'POST', body: JSON.stringify({ name: 'OPENAI_API_KEY', value: 'sk-recorded-0000000000' }) });
        expect(s.status).toBe(201);
        const live = (await (await t.api('/api/breakers')).json()) as any;
        expect(live.services[0]).toMatchObject({ service: 'linkedin', state: 'OPEN', blocked: 3, costSavedUsd: 0.3, recorded: false });
      } finally {
        await t.rt.shutdown('recorded');
      }

      // As the demo says to look again: the key set for that command alone, no config.
      const cmd = lookAgain(db, 'iron-cage');
      expect(cmd).toBe(`IRON_CAGE_MASTER_KEY='iron-cage-demo-master-key (a demo: never use it for real secrets)' iron-cage serve --db ${db}`);
      const s = await serve(db, dir, { IRON_CAGE_MASTER_KEY: KEY });
      try {
        const b = await s.get('/api/breakers');
        expect(b.status).toBe(200);
        expect(b.body.services).toHaveLength(1);
        expect(b.body.services[0]).toMatchObject({
          service: 'linkedin',
          state: 'OPEN',
          blocked: 3,
          recorded: true,
          url: `${upstream.url}/v2`,
          costPerCallUsd: 0.1,
          costSavedUsd: 0.3,
          options: { failureThreshold: 2, cooldownMs: 3_600_000 },
        });
        expect(b.body.totals).toMatchObject({ blocked: 3, costSavedUsd: 0.3 });
        const secrets = await s.get('/api/secrets');
        expect(secrets.status).toBe(200);
        expect(secrets.body.secrets.map((x: { name: string }) => x.name)).toEqual(['OPENAI_API_KEY']);
      } finally {
        expect(await s.stop()).toBe(0);
      }

      // Without the key (a runtime in this process: what the vault says is the runtime's, not the command's): it explains how to give it one.
      const locked = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: undefined } });
      try {
        const r = await locked.api('/api/secrets');
        expect(r.status).toBe(423);
        expect(((await r.json()) as any).error.message).toMatch(/IRON_CAGE_MASTER_KEY is not set \(start this iron-cage again with it set for it, e\.g\. IRON_CAGE_MASTER_KEY=… iron-cage serve\)/);
      } finally {
        await locked.rt.shutdown('locked');
      }
    } finally {
      await upstream.close();
      cleanup();
    }
    // An iron-cage process and a runtime here, each unlocking an Argon2id vault: about 20 s on a loaded 2-core machine.
  }, 90_000);
});
