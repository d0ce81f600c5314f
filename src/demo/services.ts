import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { clearbitCompanyBody, linkedinProfileBody, type Lead } from './leads.js';
import { leadOf } from './plan.js';
import { demoAnswer, scenarioRequests, type Scenario } from './scenario.js';

// The demo's outside world, in-process on loopback: an OpenAI-compatible LLM upstream whose
// usage is the true token count of what it was sent and what it answers, mock LinkedIn and
// Clearbit, and a mock mail API the agent sends its outreach e-mails through. The agent reaches
// them only through iron-cage (gateway and tool proxy).

export interface LlmCall {
  lead: number | null;
  model: string;
  key: string;
  promptTokens: number;
  completionTokens: number;
  pii: boolean;
}

export interface ToolCall {
  service: 'linkedin' | 'clearbit' | typeof MAIL_SERVICE;
  lead: number | null;
  status: number;
}

/** An e-mail the mock mail API accepted (it delivers nothing: the demo is offline). */
export interface SentMail {
  lead: number | null;
  to: string;
  subject: string;
}

export interface DemoServices {
  llmUrl: string;
  linkedinUrl: string;
  clearbitUrl: string;
  mailerUrl: string;
  /** sha256 hex prefix (12) of the Bearer key each LLM call carried, in call order, with the lead it was for. */
  keysSeen(): Array<{ lead: number | null; key: string }>;
  /** Every LLM call answered, in order, with the usage reported. */
  llmCalls(): LlmCall[];
  /** Every call that reached LinkedIn, Clearbit or the mail API, in order. */
  toolCalls(): ToolCall[];
  /** Every e-mail the mail API accepted, in order. */
  mails(): SentMail[];
  /**
   * When the last LLM call of `lead` arrives, run `hook` and answer only once it settled: what
   * the hook does (the key rotation) then lands before the next lead's first call, every run.
   */
  atLeadEnd(lead: number, hook: () => Promise<unknown>): void;
  close(): Promise<void>;
}

/** The tool service the agent sends its outreach e-mail through (`tools.mailer` in demo/iron-cage.yaml). */
export const MAIL_SERVICE = 'mailer';

/**
 * How `keysSeen` names a key: its sha256, 12 hex digits.
 *
 * @example
 * keyHash('sk-demo') === svc.keysSeen()[0].key
 */
export const keyHash = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 12);

type Answer = { status: number; body: unknown; headers?: Record<string, string>; after?: Promise<unknown> };
type Handler = (req: IncomingMessage, url: URL, body: string) => Answer;

async function serve(handler: (req: IncomingMessage, res: ServerResponse, url: URL, body: string) => void): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      try {
        handler(req, res, new URL(req.url ?? '/', 'http://127.0.0.1'), body);
      } catch (e) {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: (e as Error).message } }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(typeof body === 'string' ? body : JSON.stringify(body));

/**
 * Start the services for `s`. LinkedIn answers `breaker.status` for every lead from
 * `breaker.lead` on; the first LLM answer for `pii.lead` carries `pii.text`; Clearbit's record
 * for `injection.lead` carries `injection.text` in its description.
 *
 * @example
 * const svc = await startDemoServices(loadScenario('demo/scenario.yaml'));
 * // providers.openai.base_url: svc.llmUrl, tools.linkedin.url: svc.linkedinUrl, tools.mailer.url: svc.mailerUrl …
 * await svc.close();
 */
export async function startDemoServices(s: Scenario): Promise<DemoServices> {
  const byDomain = new Map<string, [number, Lead]>(s.leadList.map((l, i) => [l.domain, [i + 1, l]]));
  const llm: LlmCall[] = [];
  const tools: ToolCall[] = [];
  const sent: SentMail[] = [];
  let piiSent = false;
  const hooks = new Map<number, () => Promise<unknown>>();
  /** The last request the agent's plan makes for lead `n` (the one the hook holds). */
  const lastOf = (n: number) => scenarioRequests(s, n).at(-1)!;

  const chat: Handler = (req, url, raw) => {
    if (req.method === 'GET' && url.pathname === '/v1/models')
      return { status: 200, body: { object: 'list', data: [...new Set(Object.values(s.plan.steps).map((x) => x.model))].map((id) => ({ id, object: 'model', owned_by: 'demo' })) } };
    if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') return { status: 404, body: { error: { message: 'not found', type: 'invalid_request_error' } } };
    const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!key) return { status: 401, body: { error: { message: 'missing API key', type: 'invalid_request_error', code: 'invalid_api_key' } } };
    let body: { model?: unknown; messages?: unknown; max_tokens?: unknown; stream?: unknown };
    try {
      body = JSON.parse(raw);
    } catch {
      return { status: 400, body: { error: { message: 'body is not JSON', type: 'invalid_request_error' } } };
    }
    if (typeof body.model !== 'string' || !Array.isArray(body.messages)) return { status: 400, body: { error: { message: 'model and messages are required', type: 'invalid_request_error' } } };
    const lead = leadOf(body);
    const pii = lead === s.triggers.pii.lead && !piiSent;
    if (pii) piiSent = true;
    const a = demoAnswer({ model: body.model, messages: body.messages, max_tokens: body.max_tokens }, pii ? s.triggers.pii.text : undefined);
    llm.push({ lead, model: body.model, key: keyHash(key), promptTokens: a.promptTokens, completionTokens: a.completionTokens, pii });
    const usage = { prompt_tokens: a.promptTokens, completion_tokens: a.completionTokens, total_tokens: a.promptTokens + a.completionTokens };
    const hook = lead === null ? undefined : hooks.get(lead);
    const last = hook && lastOf(lead!);
    const isLast = last !== undefined && last.model === body.model && JSON.stringify(last.messages) === JSON.stringify(body.messages);
    if (isLast) hooks.delete(lead!);
    const after = isLast ? hook!().catch(() => {}) : undefined;
    const base = { id: `chatcmpl-demo-${llm.length}`, created: Math.floor(Date.now() / 1000), model: body.model };
    if (body.stream !== true) {
      return { status: 200, after, body: { ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: a.text }, finish_reason: 'stop' }], usage } };
    }
    const chunk = (choices: unknown[], extra: object = {}) => `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`;
    const pieces = a.text.match(/\S+\s*/g) ?? [];
    return {
      status: 200,
      after,
      headers: { 'content-type': 'text/event-stream' },
      body:
        chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]) +
        pieces.map((p) => chunk([{ index: 0, delta: { content: p }, finish_reason: null }])).join('') +
        chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]) +
        chunk([], { usage }) +
        'data: [DONE]\n\n',
    };
  };

  const tool =
    (service: ToolCall['service'], path: string, answer: (n: number, l: Lead) => { status: number; body: unknown }): Handler =>
    (req, url) => {
      const hit = byDomain.get(url.searchParams.get('domain') ?? '');
      const lead = hit?.[0] ?? null;
      const result = !req.headers.authorization
        ? { status: 401, body: { error: 'missing credentials' } }
        : req.method !== 'GET' || !url.pathname.endsWith(path)
          ? { status: 404, body: { error: 'not found' } }
          : hit
            ? answer(hit[0], hit[1])
            : { status: 404, body: { error: 'no such domain' } };
      tools.push({ service, lead, status: result.status });
      return result;
    };
  // `POST /v3/mail/send {to, from, subject, text}`: queued (202), never delivered; the lead is the recipient's domain's.
  const mailer: Handler = (req, url, raw) => {
    let mail: { to?: unknown; subject?: unknown; text?: unknown } | null = null;
    try {
      mail = JSON.parse(raw);
    } catch {}
    const to = typeof mail?.to === 'string' ? mail.to : '';
    const lead = byDomain.get(to.slice(to.lastIndexOf('@') + 1))?.[0] ?? null;
    const result = !req.headers.authorization
      ? { status: 401, body: { error: 'missing credentials' } }
      : req.method !== 'POST' || !url.pathname.endsWith('/mail/send')
        ? { status: 404, body: { error: 'not found' } }
        : !to.includes('@') || typeof mail?.subject !== 'string' || typeof mail.text !== 'string'
          ? { status: 400, body: { error: 'to, subject and text are required' } }
          : { status: 202, body: { id: `demo-mail-${sent.length + 1}`, status: 'queued' } };
    if (result.status === 202) sent.push({ lead, to, subject: mail!.subject as string });
    tools.push({ service: MAIL_SERVICE, lead, status: result.status });
    return result;
  };
  const { breaker } = s.triggers;
  const linkedin = tool('linkedin', '/people/search', (n, l) =>
    n >= breaker.lead ? { status: breaker.status, body: { message: 'Too many requests', status: breaker.status } } : { status: 200, body: linkedinProfileBody(l) },
  );
  const { injection } = s.triggers;
  const clearbit = tool('clearbit', '/companies/find', (n, l) => ({ status: 200, body: clearbitCompanyBody(l, n === injection.lead ? injection.text : undefined) }));

  const started = await Promise.all(
    [chat, linkedin, clearbit, mailer].map((h) =>
      serve((req, res, url, body) => {
        const r = h(req, url, body);
        if (!r.after) return send(res, r.status, r.body, r.headers);
        void r.after.then(() => send(res, r.status, r.body, r.headers));
      }),
    ),
  );
  const [a, b, c, m] = started as [(typeof started)[0], (typeof started)[0], (typeof started)[0], (typeof started)[0]];
  return {
    llmUrl: `${a.origin}/v1`,
    linkedinUrl: `${b.origin}/v2`,
    clearbitUrl: `${c.origin}/v1`,
    mailerUrl: `${m.origin}/v3`,
    keysSeen: () => llm.map(({ lead, key }) => ({ lead, key })),
    llmCalls: () => llm.map((x) => ({ ...x })),
    toolCalls: () => tools.map((x) => ({ ...x })),
    mails: () => sent.map((x) => ({ ...x })),
    atLeadEnd: (lead, hook) => void hooks.set(lead, hook),
    close: async () => {
      await Promise.all(
        started.map(
          ({ server }) =>
            new Promise<void>((r) => {
              server.closeAllConnections();
              server.close(() => r());
            }),
        ),
      );
    },
  };
}
