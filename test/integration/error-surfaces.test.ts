import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { request } from 'node:http';
import { PassThrough } from 'node:stream';
import { NotFoundError, PayloadTooLargeError, TooManyAttemptsError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { GatewayError, sendError } from '../../src/gateway/errors.js';
import { anthropicWire } from '../../src/gateway/wire/anthropic.js';
import { openaiWire } from '../../src/gateway/wire/openai.js';
import { responsesWire } from '../../src/gateway/wire/responses.js';
import type { Wire } from '../../src/gateway/wire/types.js';
import { errorAnswer, toErrorResponse } from '../../src/server/index.js';
import { DEFAULTS } from '../../src/config/index.js';
import { agentToken, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { FakeService, serve, type TestServer } from '../helpers/http.js';
import { withTools } from '../tools/helpers.js';

// One error, one answer (status, code, message, headers) from server/errors.ts, rendered by each
// surface in its own shape: REST's {"error":{"code","message"}}, the tool proxy's (the same),
// and each LLM wire's, which the official SDKs turn into their usual exceptions.

/** Each case: an error, what the mapping makes of it, and the exception each SDK raises for it. */
const CASES = [
  {
    name: 'an exhausted budget',
    error: () => new GatewayError('budget', 'Budget exhausted for agent a1.', false),
    answer: { status: 402, code: 'budget', kind: 'budget', message: 'Budget exhausted for agent a1.', headers: { 'x-should-retry': 'false' } },
    openai: { type: 'insufficient_quota', code: 'budget_exceeded' },
    anthropic: { type: 'billing_error' },
  },
  {
    name: 'congestion with a time to come back',
    error: () => new GatewayError('rate_limit', 'Too many calls are waiting for budget; retry in 7 s.', true, 7),
    answer: { status: 429, code: 'rate_limit', kind: 'rate_limit', message: 'Too many calls are waiting for budget; retry in 7 s.', headers: { 'retry-after': '7' } },
    openai: { type: 'rate_limit_error', code: null, sdk: OpenAI.RateLimitError },
    anthropic: { type: 'rate_limit_error', sdk: Anthropic.RateLimitError },
  },
  {
    name: 'a core error with a retry time',
    error: () => new TooManyAttemptsError(30),
    answer: { status: 429, code: 'too_many_attempts', kind: 'rate_limit', message: 'too many failed logins: try again in 30 s', headers: { 'retry-after': '30' } },
    openai: { type: 'rate_limit_error', code: null, sdk: OpenAI.RateLimitError },
    anthropic: { type: 'rate_limit_error', sdk: Anthropic.RateLimitError },
  },
  {
    name: 'a body too large, which closes the connection',
    error: () => new PayloadTooLargeError(10),
    answer: { status: 413, code: 'payload_too_large', kind: 'too_large', message: 'request body is larger than 10 bytes', headers: { connection: 'close' } },
    openai: { type: 'invalid_request_error', code: 'request_too_large' },
    anthropic: { type: 'request_too_large' },
  },
  {
    name: 'a core 404',
    error: () => new NotFoundError('no agent a1'),
    answer: { status: 404, code: 'not_found', kind: 'not_found', message: 'no agent a1', headers: {} },
    openai: { type: 'not_found_error', code: null, sdk: OpenAI.NotFoundError },
    anthropic: { type: 'not_found_error', sdk: Anthropic.NotFoundError },
  },
  {
    name: 'a bug, which says no more than that',
    error: () => new Error('secret detail'),
    answer: { status: 500, code: 'internal_error', kind: 'upstream', message: 'iron-cage internal error: the details are in its log', headers: {} },
    openai: { type: 'api_error', code: null, sdk: OpenAI.InternalServerError },
    anthropic: { type: 'api_error', sdk: Anthropic.InternalServerError },
  },
] as const;

describe('the one error answer', () => {
  for (const c of CASES) {
    it(`${c.name}: status, code, kind, message and headers`, () => {
      expect(errorAnswer(c.error())).toEqual({ ...c.answer, unexpected: c.answer.status === 500 });
      // REST's rendering is the same answer with its body.
      const rest = toErrorResponse(c.error());
      expect(rest).toMatchObject({ status: c.answer.status, headers: c.answer.headers });
      expect(rest.body).toEqual({ error: { code: c.answer.code, message: c.answer.message } });
    });
  }
});

describe('rendered on each LLM wire, as the official SDKs read it', () => {
  let server: TestServer;
  /** What the next request is answered with, and how many requests came (the SDKs retry some). */
  let next: { wire: Wire; error: unknown } = { wire: openaiWire, error: null };
  let hits = 0;
  // The bug case is logged: kept out of the test's output.
  const logger = createLogger({ format: 'json', level: 'error', stream: new PassThrough() });

  beforeAll(async () => {
    server = await serve((req, res) => {
      hits++;
      req.resume();
      req.on('end', () => sendError(res, next.wire, next.error, logger));
    });
  });
  afterAll(() => server.close());

  const raw = async (wire: Wire, error: unknown) => {
    next = { wire, error };
    const r = await fetch(`${server.url}/v1/x`, { method: 'POST', body: '{}' });
    const headers: Record<string, string> = {};
    r.headers.forEach((v, k) => {
      headers[k] = v;
    });
    return { status: r.status, headers, body: await r.json() };
  };

  for (const c of CASES) {
    it(`${c.name}: OpenAI (chat and Responses) and Anthropic shapes, same status and headers`, async () => {
      for (const wire of [openaiWire, responsesWire]) {
        const r = await raw(wire, c.error());
        expect(r.status).toBe(c.answer.status);
        expect(r.headers).toMatchObject(c.answer.headers);
        expect(r.body).toEqual({ error: { message: c.answer.message, type: c.openai.type, param: null, code: c.openai.code } });
      }
      const a = await raw(anthropicWire, c.error());
      expect(a.status).toBe(c.answer.status);
      expect(a.headers).toMatchObject(c.answer.headers);
      expect(a.body).toEqual({ type: 'error', error: { type: c.anthropic.type, message: c.answer.message } });

      next = { wire: openaiWire, error: c.error() };
      const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'k', maxRetries: 0 });
      const oe = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      expect(oe).toBeInstanceOf(OpenAI.APIError);
      if ('sdk' in c.openai) expect(oe).toBeInstanceOf(c.openai.sdk);
      expect(oe).toMatchObject({ status: c.answer.status, type: c.openai.type, code: c.openai.code });
      expect((oe as Error).message).toContain(c.answer.message);

      next = { wire: responsesWire, error: c.error() };
      const re = await openai.responses.create({ model: 'gpt-4o', input: 'hi' }).catch((e: unknown) => e);
      expect(re).toMatchObject({ status: c.answer.status, type: c.openai.type, code: c.openai.code });

      next = { wire: anthropicWire, error: c.error() };
      const anthropic = new Anthropic({ baseURL: server.url, apiKey: 'k', maxRetries: 0 });
      const ae = await anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      expect(ae).toBeInstanceOf(Anthropic.APIError);
      if ('sdk' in c.anthropic) expect(ae).toBeInstanceOf(c.anthropic.sdk);
      expect(ae).toMatchObject({ status: c.answer.status, error: { type: 'error', error: { type: c.anthropic.type, message: c.answer.message } } });
    });
  }

  it('x-should-retry: false stops both SDKs from retrying what they otherwise would (a 503)', async () => {
    for (const [wire, call] of [
      [openaiWire, () => new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'k', maxRetries: 2 }).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] })],
      [anthropicWire, () => new Anthropic({ baseURL: server.url, apiKey: 'k', maxRetries: 2 }).messages.create({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] })],
    ] as const) {
      next = { wire, error: new GatewayError('unavailable', 'Provider openai is failing.', false) };
      hits = 0;
      expect(await (call as () => Promise<unknown>)().catch((e: { status: number }) => e.status)).toBe(503);
      expect(hits).toBe(1);
    }
  });
});

describe('one error raised on every surface of a running iron-cage', () => {
  let t: TestRuntime;
  let tool: FakeService;
  let agent: string;

  beforeAll(async () => {
    tool = await FakeService.start();
    t = await startTestRuntime({ config: withTools({ crm: { url: tool.url } }, { gateway: { ...DEFAULTS.gateway, maxRequestBytes: 1024 } }) });
    agent = (await agentToken(t, { name: 'surfaces', budgetUsd: 1 })).token;
  });
  afterAll(async () => {
    await t?.stop();
    await tool?.close();
  });

  /** A request that declares more body than any surface takes, and sends only a little of it. */
  const oversized = (path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: any }>((resolve, reject) => {
      const u = new URL(t.rt.url);
      const req = request(
        { host: u.hostname, port: u.port, method: 'POST', path, agent: false, headers: { ...headers, 'content-type': 'application/json', 'content-length': String(6 * 1024 * 1024) } },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(body) }));
        },
      );
      req.on('error', reject);
      req.write('{"model": "gpt-4o", ');
    });

  it('a body too large is 413 with connection: close everywhere, in each surface’s own shape', async () => {
    const rest = await oversized('/api/tokens', { authorization: `Bearer ${t.rt.adminToken}` });
    expect(rest).toMatchObject({ status: 413, headers: { connection: 'close' }, body: { error: { code: 'payload_too_large', message: `request body is larger than ${2 * 1024 * 1024} bytes` } } });
    const tools = await oversized('/tools/crm/upload', { authorization: `Bearer ${agent}` });
    expect(tools).toMatchObject({ status: 413, headers: { connection: 'close' }, body: { error: { code: 'payload_too_large', message: `request body is larger than ${5 * 1024 * 1024} bytes` } } });
    const openai = await oversized('/v1/chat/completions', { authorization: `Bearer ${agent}` });
    expect(openai).toMatchObject({ status: 413, headers: { connection: 'close' } });
    expect(openai.body).toEqual({ error: { message: "Request body is larger than the gateway's limit of 1024 bytes.", type: 'invalid_request_error', param: null, code: 'request_too_large' } });
    const anthropic = await oversized('/v1/messages', { 'x-api-key': agent, 'anthropic-version': '2023-06-01' });
    expect(anthropic).toMatchObject({ status: 413, headers: { connection: 'close' } });
    expect(anthropic.body).toEqual({ type: 'error', error: { type: 'request_too_large', message: "Request body is larger than the gateway's limit of 1024 bytes." } });
    expect(tool.seen).toEqual([]);
  });
});
