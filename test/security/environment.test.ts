import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { ROOT, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';

// Nothing of iron-cage's reaches the agent's environment. Read from the
// real child's /proc/<pid>/environ, not from what iron-cage meant to pass it.

const KEY = 'sk-proj-live-7f3a9c2e41b8d605aa19';
const MASTER = 'correct horse battery staple (master key)';
const SMTP_PASSWORD = 'smtp-pass-93c1e7';

let t: TestRuntime | undefined;
let cleanup: (() => void) | undefined;
afterEach(async () => {
  await t?.stop();
  cleanup?.();
  t = undefined;
});

/** The running agent's environment as the kernel holds it. */
async function childEnviron(rt: TestRuntime): Promise<Record<string, string>> {
  const id = rt.rt.agentId!;
  const status = await until(async () => {
    const s = (await (await rt.api(`/api/agents/${id}/status`)).json()) as { status: string; pid: number | null };
    return s.status === 'running' && s.pid ? s : null;
  });
  await until(() => rt.log().includes('sleeper ready'));
  const raw = readFileSync(`/proc/${status.pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

const CRM_TOKEN = 'crm-service-token-0123456789';
const PII_HOOK = 'https://hooks.example.com/pii/T0123/secret-path';

describe("the agent's environment", () => {
  it.skipIf(process.platform !== 'linux')('holds no credential iron-cage reads or holds, under any name; the rest of the environment passes', async () => {
    const d = tempDir();
    cleanup = d.cleanup;
    const file = join(d.dir, 'iron-cage.yaml');
    writeFileSync(
      file,
      [
        'providers:',
        '  openai:',
        '    api_key_env: MY_OPENAI_KEY',
        '  anthropic:',
        '    api_key_env: MY_ANTHROPIC_KEY',
        'alerts:',
        '  email:',
        '    to: ops@example.com',
        `    smtp_url: smtp://ops:${SMTP_PASSWORD}@127.0.0.1:2525`,
        'safety:',
        `  webhook_url: ${PII_HOOK}`,
        'tools:',
        '  crm:',
        '    url: http://127.0.0.1:9/api',
        '    headers:',
        `      Authorization: Bearer ${CRM_TOKEN}`,
        '      Accept: application/json',
      ].join('\n'),
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MY_OPENAI_KEY: KEY,
      // Named by the config but unset in the file's sense: still a credential source.
      MY_ANTHROPIC_KEY: 'sk-ant-unused-but-named-0042',
      OPENAI_API_KEY: 'sk-default-var-should-not-leak-1',
      IRON_CAGE_MASTER_KEY: MASTER,
      IRON_CAGE_CONFIG: file,
      // Copies of a key iron-cage holds, under names the config never mentions.
      COPY_OF_KEY: KEY,
      AUTH_HEADER: `Bearer ${KEY}`,
      MAIL_PASSWORD: SMTP_PASSWORD,
      CRM_TOKEN_COPY: `Bearer ${CRM_TOKEN}`,
      HOOK: PII_HOOK,
      HARMLESS_SETTING: 'stays',
      CONTENT_TYPE: 'application/json',
      // The trace exporter's key for its backend, and a collector URL with a password in it.
      OTEL_EXPORTER_OTLP_HEADERS: 'x-honeycomb-team=hc-team-key-0042,Authorization=Basic%20b3RscC11c2VyOnBhc3M=',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://otlp:otlp-url-pass-0042@127.0.0.1:9/v1/traces',
      HONEY_COPY: 'hc-team-key-0042',
    };
    const config = loadConfig({ configPath: file, env, cwd: d.dir });
    expect(config.gateway.providers.openai.apiKey).toBe(KEY);
    t = await startTestRuntime({ config: { ...config, port: 0, db: join(d.dir, 'iron_state.db') }, env, agent: { script: join(ROOT, 'test/fixtures/agents/sleeper.py') } });

    const child = await childEnviron(t);
    const all = Object.entries(child)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n');
    for (const secret of [KEY, MASTER, SMTP_PASSWORD, 'sk-ant-unused-but-named-0042', 'sk-default-var-should-not-leak-1', 'hc-team-key-0042', 'b3RscC11c2VyOnBhc3M=', 'otlp-url-pass-0042'])
      expect(all).not.toContain(secret);
    for (const name of [
      'MY_OPENAI_KEY',
      'MY_ANTHROPIC_KEY',
      'IRON_CAGE_MASTER_KEY',
      'IRON_CAGE_CONFIG',
      'COPY_OF_KEY',
      'AUTH_HEADER',
      'MAIL_PASSWORD',
      'CRM_TOKEN_COPY',
      'HOOK',
      'OTEL_EXPORTER_OTLP_HEADERS',
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
      'HONEY_COPY',
    ])
      expect(child[name]).toBeUndefined();
    // A header that is no credential does not make its value one.
    expect(child.CONTENT_TYPE).toBe('application/json');
    // What the agent should have: its own token in the SDKs' variables, our URL, the rest of the environment.
    expect(child.OPENAI_API_KEY).toBe(child.IRON_CAGE_TOKEN);
    expect(child.ANTHROPIC_API_KEY).toBe(child.IRON_CAGE_TOKEN);
    expect(child.OPENAI_BASE_URL).toBe(`${t.rt.url}/v1`);
    expect(child.IRON_CAGE_AGENT_ID).toBe(t.rt.agentId);
    expect(child.HARMLESS_SETTING).toBe('stays');
    expect(child.PATH).toBeTruthy();
  });
});
