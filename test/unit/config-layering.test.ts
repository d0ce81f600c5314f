import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS, injectionMode, loadConfig } from '../../src/config/index.js';
import { tempDir } from '../helpers/runtime.js';

// Every snake_case key of the gateway, safety and alerts sections, read into the camelCase
// config: the layering is declared once per section, and this pins what each key becomes.

const FULL = `
providers:
  openai: { base_url: "http://127.0.0.1:9/v1///", api_key: sk-file, timeout_ms: 5000 }
  anthropic: { api_key_env: MY_ANTHROPIC_KEY }
  simulated:
    latency_ms: 5
    chunk_delay_ms: 2
    failures: [{ from_call: 3, status: 503 }, { from_call: 7, count: 2, status: timeout }]
    script: turns.yaml
routing: { "my-*": simulated }
model_fallbacks: { gpt-4: [gpt-3.5-turbo] }
pricing:
  gpt-4: { input_per_1k: 0.03, output_per_1k: 0.06 }
default_price: { input_per_1m: 1, output_per_1m: 2 }
baseline_model: gpt-4
budget_policy: { thresholds: [0.5, 1], on_exhausted: refuse, min_increase_usd: 25, near_limit: clamp, wait_ms: 30000, max_waiting: 8, runway_alert_minutes: 15 }
retry: { attempts: 2, max_ms: 100 }
alerts:
  webhook_url: http://127.0.0.1:9/hook
  email: { to: ops@example.com, smtp_url: "smtp://127.0.0.1:25" }
max_request_mb: 1.5
responses: { retention_days: 7 }
safety:
  per_type: { EMAIL: block }
  severity: { PHONE: CRITICAL }
  risk: { IP_ADDRESS: HIGH }
  allow_domains: [example.com]
  allow_values: [x@y.z]
  phone_regions: [GB]
  redact_prompts: true
  locations: { tool_arguments: 'off', prompt: warn }
  on_block: refuse
`;

describe('config layering', () => {
  it('reads every gateway, safety and alerts key into its camelCase place, keeping defaults for the rest', () => {
    const { dir, cleanup } = tempDir();
    writeFileSync(join(dir, 'iron-cage.yaml'), FULL);
    writeFileSync(join(dir, 'turns.yaml'), 'conversations: [{ turns: [{ text: hi }] }]\n');
    const c = loadConfig({ env: { MY_ANTHROPIC_KEY: 'sk-ant-env', OPENAI_API_KEY: 'sk-ignored' }, cwd: dir });
    const { pricing, defaultPrice, ...gateway } = c.gateway;
    expect(gateway).toEqual({
      providers: {
        openai: { baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-file', timeoutMs: 5000 },
        anthropic: { baseUrl: 'https://api.anthropic.com', apiKey: 'sk-ant-env', apiKeyEnv: 'MY_ANTHROPIC_KEY', timeoutMs: 120_000 },
        simulated: {
          latencyMs: 5,
          chunkDelayMs: 2,
          failures: [
            { fromCall: 3, count: null, status: 503 },
            { fromCall: 7, count: 2, status: 'timeout' },
          ],
          script: {
            file: join(dir, 'turns.yaml'),
            conversations: [{ label: 'conversations[0]', when: { tools: null, models: null, userContains: null, systemContains: null }, turns: [{ text: 'hi', calls: [] }] }],
            otherwise: null,
          },
        },
      },
      routing: { 'my-*': 'simulated' },
      modelFallbacks: { 'gpt-4': ['gpt-3.5-turbo'] },
      baselineModel: 'gpt-4',
      budgetPolicy: {
        thresholds: [0.5, 1],
        onExhausted: 'refuse',
        defaultMaxOutputTokens: 4096,
        minIncreaseMicros: 25_000_000,
        nearLimit: 'clamp',
        waitMs: 30_000,
        maxWaiting: 8,
        runwayAlertMinutes: 15,
      },
      retry: { attempts: 2, baseMs: 250, maxMs: 100 },
      maxRequestBytes: Math.round(1.5 * 1024 * 1024),
      responses: { retentionMs: 7 * 24 * 3600 * 1000, maxReferences: 1000, maxContextBytes: 8 * 1024 * 1024, maxStoredBytes: 256 * 1024 * 1024, maxStoredItems: 100_000 },
    });
    // Prices arrive parsed, in micro-dollars per million tokens.
    expect(pricing.find('gpt-4-0613')).toEqual({ key: 'gpt-4', rates: { input: 30_000_000, output: 60_000_000 } });
    expect(pricing.find('other')).toBeNull();
    expect(defaultPrice).toEqual({ input: 1_000_000, output: 2_000_000 });
    expect(c.safety).toEqual({
      perType: { EMAIL: 'block' },
      severity: { PHONE: 'CRITICAL' },
      risk: { IP_ADDRESS: 'HIGH' },
      allowDomains: ['example.com'],
      allowValues: ['x@y.z'],
      phoneRegions: ['GB'],
      redactPrompts: true,
      locations: { tool_arguments: 'off', prompt: 'warn' },
      onBlock: 'refuse',
      injection: { mode: 'detect', doors: {}, agents: {} },
    });
    expect(c.alerts).toEqual({ webhookUrl: 'http://127.0.0.1:9/hook', email: { to: 'ops@example.com', from: 'iron-cage@localhost', smtpUrl: 'smtp://127.0.0.1:25' } });
    expect(c.notices).toEqual([]);
    cleanup();
  });

  it('without a file: provider keys and base URLs from the environment, no prices, default safety', () => {
    const { dir, cleanup } = tempDir();
    const c = loadConfig({ env: { OPENAI_API_KEY: 'sk-env', OPENAI_BASE_URL: 'http://127.0.0.1:1/v1/', ANTHROPIC_API_KEY: '' }, cwd: dir });
    expect(c.gateway.providers.openai).toEqual({ baseUrl: 'http://127.0.0.1:1/v1', apiKey: 'sk-env', timeoutMs: 120_000 });
    expect(c.gateway.providers.anthropic.apiKey).toBeNull();
    expect(c.gateway.pricing.size).toBe(0);
    expect(c.gateway.defaultPrice).toBeNull();
    expect(c.safety).toEqual(DEFAULTS.safety);
    expect(c.gateway.budgetPolicy).toEqual(DEFAULTS.gateway.budgetPolicy);
    // Nothing loaded may write through to the shared defaults.
    expect(DEFAULTS.gateway.providers.openai.apiKey).toBeNull();
    cleanup();
  });

  it('names the file and every bad price entry', () => {
    const { dir, cleanup } = tempDir();
    writeFileSync(join(dir, 'p.yaml'), 'pricing:\n  gpt-4: { input_per_1k: "0.03" }\n');
    expect(() => loadConfig({ configPath: 'p.yaml', env: {}, cwd: dir })).toThrow(
      `config ${join(dir, 'p.yaml')}: invalid pricing:\n  pricing["gpt-4"].input_per_1k: expected a non-negative number of dollars, got "0.03"\n  pricing["gpt-4"]: output_per_1k or output_per_1m is required`,
    );
    writeFileSync(join(dir, 'q.yaml'), 'default_price: 3\n');
    expect(() => loadConfig({ configPath: 'q.yaml', env: {}, cwd: dir })).toThrow(/q\.yaml: invalid pricing:\n {2}default_price: expected an object/);
    writeFileSync(join(dir, 's.yaml'), 'default_price:\n');
    expect(loadConfig({ configPath: 's.yaml', env: {}, cwd: dir }).gateway.defaultPrice).toBeNull();
    writeFileSync(join(dir, 'r.yaml'), 'safety:\n  per_type: { NAME: block }\n');
    expect(() => loadConfig({ configPath: 'r.yaml', env: {}, cwd: dir })).toThrow(/r\.yaml: unknown key 'safety\.per_type\.NAME'/);
    cleanup();
  });

  it('reads the deprecated safety.webhook_url as alerts.webhook_url, with a notice naming the replacement', () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'old.yaml');
    writeFileSync(file, 'safety:\n  on_block: refuse\n  webhook_url: http://127.0.0.1:9/pii\nalerts:\n  email: { to: ops@example.com, smtp_url: "smtp://127.0.0.1:25" }\n');
    const c = loadConfig({ configPath: file, env: {}, cwd: dir });
    expect(c.alerts).toEqual({ webhookUrl: 'http://127.0.0.1:9/pii', email: { to: 'ops@example.com', from: 'iron-cage@localhost', smtpUrl: 'smtp://127.0.0.1:25' } });
    expect(c.safety.onBlock).toBe('refuse');
    expect(c.notices).toEqual([`config ${file}: safety.webhook_url is deprecated: use alerts.webhook_url, which budget alerts and PII findings share`]);
    // Both naming the same webhook is a file half-way through the move: it works, and still says so.
    writeFileSync(file, 'safety:\n  webhook_url: http://127.0.0.1:9/hook\nalerts:\n  webhook_url: http://127.0.0.1:9/hook\n');
    const same = loadConfig({ configPath: file, env: {}, cwd: dir });
    expect(same.alerts.webhookUrl).toBe('http://127.0.0.1:9/hook');
    expect(same.notices).toHaveLength(1);
    cleanup();
  });

  it('refuses safety.webhook_url and alerts.webhook_url naming different webhooks, naming both keys and the file', () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'both.yaml');
    writeFileSync(file, 'safety:\n  webhook_url: http://127.0.0.1:9/pii\nalerts:\n  webhook_url: http://127.0.0.1:9/budget\n');
    expect(() => loadConfig({ configPath: file, env: {}, cwd: dir })).toThrow(
      `config ${file}: safety.webhook_url and alerts.webhook_url name different webhooks; budget alerts and PII findings now share alerts.webhook_url: keep that one and remove safety.webhook_url`,
    );
    writeFileSync(file, 'safety:\n  webhook_url: ftp://x\n');
    expect(() => loadConfig({ configPath: file, env: {}, cwd: dir })).toThrow(`config ${file}: safety.webhook_url: must be an http(s) URL`);
    cleanup();
  });

  it('reads safety.injection as one mode, or by door and by agent, and names a bad value', () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'inj.yaml');
    const load = (yaml: string) => {
      writeFileSync(file, yaml);
      return loadConfig({ configPath: file, env: {}, cwd: dir }).safety.injection;
    };
    expect(load('safety:\n  injection: warn\n')).toEqual({ mode: 'warn', doors: {}, agents: {} });
    const p = load('safety:\n  injection:\n    tool_response: block\n    prompt: detect\n    agents:\n      bot: { mode: "off", mcp: block }\n      crawler: warn\n');
    expect(p).toEqual({ mode: 'detect', doors: { tool_response: 'block', prompt: 'detect' }, agents: { bot: { mode: 'off', doors: { mcp: 'block' } }, crawler: { mode: 'warn', doors: {} } } });
    // An agent's own door, then its mode, then the door's, then the mode; the prompt only where named.
    expect(injectionMode(p, 'bot', 'mcp')).toBe('block');
    expect(injectionMode(p, 'bot', 'tool_response')).toBe('off');
    expect(injectionMode(p, 'bot', 'prompt')).toBe('detect');
    expect(injectionMode(p, 'crawler', 'tool_results')).toBe('warn');
    expect(injectionMode(p, 'someone', 'tool_response')).toBe('block');
    expect(injectionMode(p, null, 'tool_results')).toBe('detect');
    expect(injectionMode(DEFAULTS.safety.injection, null, 'prompt')).toBe('off');
    expect(load('safety:\n  injection: { mode: "off" }\n')).toEqual({ mode: 'off', doors: {}, agents: {} });
    expect(() => load('safety:\n  injection: sometimes\n')).toThrow(/safety\.injection\.mode: must be one of off, detect, warn, block$/);
    expect(() => load('safety:\n  injection: [warn]\n')).toThrow(/safety\.injection\.mode: must be one of off, detect, warn, block$/);
    expect(() => load('safety:\n  injection: { doors: { mcp: block } }\n')).toThrow(/unknown key 'safety\.injection\.doors'/);
    expect(() => load('safety:\n  injection: { agents: { bot: { mcp: blok } } }\n')).toThrow(/safety\.injection\.agents\.bot\.mcp: must be one of off, detect, warn, block$/);
    expect(() => load('safety:\n  injection: { agents: { "a b": warn } }\n')).toThrow(/safety\.injection\.agents\.a b: each key must be an agent name/);
    // A policy waiting on an injection that no door looks for is a mistake, said at once.
    writeFileSync(file, 'safety:\n  injection: "off"\npolicies:\n  - { name: no-mail, match: { tool: "mail.*", after_injection: true }, action: deny }\n');
    expect(() => loadConfig({ configPath: file, env: {}, cwd: dir })).toThrow(/policies rule no-mail matches after_injection, but safety\.injection is off at every door/);
    cleanup();
  });
});
