import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { request } from 'node:http';
import { PassThrough } from 'node:stream';
import { IronCageError, NotFoundError, PayloadTooLargeError, TooManyAttemptsError } from '../../src/core/errors.js';
import { CircuitOpenError } from '../../src/domain/reliability/index.js';
import { createLogger } from '../../src/core/logger.js';
import { GatewayError, sendError } from '../../src/gateway/errors.js';
import { anthropicWire } from '../../src/gateway/wire/anthropic/wire.js';
import { openaiWire } from '../../src/gateway/wire/openai/wire.js';
import { responsesWire } from '../../src/gateway/wire/responses/wire.js';
import type { Wire } from '../../src/gateway/wire/types.js';
import { DEFAULT_RETRY_AFTER_S, errorAnswer, toErrorResponse } from '../../src/server/index.js';
import { DEFAULTS } from '../../src/config/index.js';
import { agentToken, startTestRuntime, until, type TestRuntime } from '../helpers/runtime.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
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

describe('every 429 and 503 iron-cage answers says when to come back', () => {
  it('the one error answer gives any 429 or 503 a retry-after, its own when it has one', () => {
    const cases: Array<[unknown, string]> = [
      [new TooManyAttemptsError(30), '30'],
      [new CircuitOpenError('crm', 'open', 42_500), '43'],
      // A breaker about to half-open still says a whole second, never 0 (an SDK would retry at once).
      [new CircuitOpenError('crm', 'half_open_busy', 10), '1'],
      [new GatewayError('rate_limit', 'congested', true, 7), '7'],
      [new GatewayError('unavailable', 'no provider', false), String(DEFAULT_RETRY_AFTER_S)],
      [new IronCageError('anything_new', 429, 'slow down'), String(DEFAULT_RETRY_AFTER_S)],
      [new IronCageError('anything_new', 503, 'later', { headers: { 'retry-after': 'Wed, 21 Oct 2026 07:28:00 GMT' } }), 'Wed, 21 Oct 2026 07:28:00 GMT'],
    ];
    for (const [err, wait] of cases) expect(errorAnswer(err).headers['retry-after']).toBe(wait);
    // Other statuses are left alone.
    expect(errorAnswer(new GatewayError('budget', 'spent', false)).headers['retry-after']).toBeUndefined();
  });

  describe('on every surface of a running iron-cage', () => {
    const llm = useFakeLlm();
    let t: TestRuntime;
    let tool: FakeService;
    let agent: { token: string; agentId: string };

    beforeAll(async () => {
      tool = await FakeService.start();
      t = await startTestRuntime({
        config: withTools(
          {
            broken: { url: tool.url, cache_ttl_s: 0, breaker: { failure_threshold: 2, cooldown_s: 60 } },
            keyed: { url: tool.url, headers: { authorization: 'Bearer ${secret:NOT_THERE}' } },
          },
          { gateway: llm.gateway({ anthropic: true }, { retry: { attempts: 1, baseMs: 1, maxMs: 1 }, budgetPolicy: { ...DEFAULTS.gateway.budgetPolicy, waitMs: 50 } }) },
        ),
      });
      agent = await agentToken(t, { name: 'waits', budgetUsd: 0.02 });
    });
    afterAll(async () => {
      await t?.stop();
      await tool?.close();
    });

    const chat = (token: string) =>
      fetch(`${t.rt.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', max_tokens: 1900, messages: [{ role: 'user', content: 'hi' }] }),
      });
    const toolGet = (service: string) => fetch(`${t.rt.url}/tools/${service}/x`, { headers: { authorization: `Bearer ${agent.token}` } });
    const login = (password: string) => t.api('/api/login', { method: 'POST', token: null, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ann', password }) });

    /** Each way iron-cage itself refuses with a 429 or 503: the answer it gives. */
    const SURFACES: Array<[string, number, () => Promise<Response>]> = [
      [
        'gateway: budget congestion (the headroom held by a call in flight)',
        429,
        async () => {
          let answerFirst!: () => void;
          llm.answer({ after: new Promise<void>((r) => (answerFirst = r)) });
          const first = chat(agent.token);
          await until(() => llm.requests.length > 0);
          const r = await chat(agent.token);
          answerFirst();
          await first;
          return r;
        },
      ],
      [
        'gateway: an open circuit',
        503,
        async () => {
          const a = await agentToken(t, { budgetUsd: 1 });
          llm.answer({ status: 503 });
          for (let i = 0; i < 5; i++) expect((await chat(a.token)).status).toBe(503);
          return chat(a.token);
        },
      ],
      ['tools: a secret the headers need is not there', 503, () => toolGet('keyed')],
      [
        'tools: the service failed and nothing else can answer',
        503,
        () => {
          tool.failWith(502);
          return toolGet('broken');
        },
      ],
      [
        'tools: an open circuit',
        503,
        async () => {
          await toolGet('broken');
          return toolGet('broken');
        },
      ],
      [
        'REST: too many failed logins',
        429,
        async () => {
          expect((await t.api('/api/users', { method: 'POST', body: JSON.stringify({ name: 'ann', role: 'viewer', password: 'correct horse battery staple' }) })).status).toBe(201);
          for (let i = 0; i < 5; i++) expect((await login('wrong password!')).status).toBe(401);
          return login('wrong password!');
        },
      ],
    ];

    for (const [name, status, provoke] of SURFACES) {
      it(`${name}: ${status} with retry-after`, async () => {
        const r = await provoke();
        expect(r.status).toBe(status);
        const wait = r.headers.get('retry-after');
        expect(wait).not.toBeNull();
        expect(Number(wait)).toBeGreaterThanOrEqual(1);
        await r.arrayBuffer();
      });
    }
  });
});
