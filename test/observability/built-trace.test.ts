import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { otlpReceiver, type OtlpReceiver } from '../helpers/otlp.js';
import { ROOT, tempDir, until } from '../helpers/runtime.js';

// Traces from the built command line, as a user turns them on (OTEL_EXPORTER_OTLP_ENDPOINT), with
// an agent that needs nothing installed: the OpenTelemetry SDK is bundled (scripts/build.mjs),
// where a CommonJS package imported on first use is a chunk whose exports are its `default`
// (observability/otel.ts reads both). The agent's own spans are test/observability/agent-trace.test.ts's.

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await otlpReceiver();
});
afterAll(() => receiver?.close());

it('exports a span per LLM call to the collector, in both of OTLP encodings', async () => {
  for (const protocol of ['http/protobuf', 'http/json']) {
    const { dir, cleanup } = tempDir();
    try {
      const before = receiver.spans.length;
      const env: NodeJS.ProcessEnv = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_'))), OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '' };
      Object.assign(env, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_SERVICE_NAME: 'built-cage' });
      const args = [CLI, 'start', join(ROOT, 'examples/python-stdlib/agent.py'), '--budget', '1', '--exit', '--port', '0', '--db', join(dir, 'state.db'), '--sandbox', 'off'];
      const child = spawn(process.execPath, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (out += c));
      const code = await new Promise((r) => child.on('close', r));
      expect(code, out).toBe(0);
      expect(out).not.toMatch(/traces are off/);
      const chats = await until(() => {
        const mine = receiver.spans.slice(before).filter((s) => s.name === 'chat gpt-4o-mini');
        return mine.length >= 3 ? mine : null;
      }, 20_000);
      expect(chats).toHaveLength(3);
      expect(chats.every((s) => s.resource['service.name'] === 'built-cage')).toBe(true);
      expect(chats.map((s) => s.attributes['gen_ai.usage.input_tokens'])).toEqual(expect.arrayContaining([expect.any(Number)]));
    } finally {
      cleanup();
    }
  }
}, 90_000);
