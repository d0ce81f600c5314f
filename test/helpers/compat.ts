import { expect } from 'vitest';
import { z } from 'zod';
import { DEFAULTS } from '../../src/config/index.js';
import { startTestRuntime, type TestRuntime } from './runtime.js';
import { sqliteOf } from './db.js';

/** One row of the gateway's ledger (`llm_requests`), as the compatibility tests check it. */
export interface LedgerRow {
  endpoint: string;
  model: string;
  stream: number;
  status: string;
  cost_micros: number;
  prompt_tokens: number;
  completion_tokens: number;
}

export interface CompatAgent {
  agentId: string;
  token: string;
}

/**
 * A real iron-cage server on the simulated provider (no latency), with the base URLs a user is
 * told to export (src/cli/token.ts, src/gateway/gateway.service.ts): OpenAI at `<url>/v1`,
 * Anthropic at `<url>` with no `/v1`. Clients are pointed at exactly these.
 */
export interface CompatServer {
  t: TestRuntime;
  /** What `OPENAI_BASE_URL` is set to. */
  openaiBaseUrl: string;
  /** What `ANTHROPIC_BASE_URL` is set to. */
  anthropicBaseUrl: string;
  /** An agent token with a budget large enough for the whole file. */
  agent: CompatAgent;
  /** Mint another agent token (its own budget, in dollars). */
  mint(name: string, budgetUsd: number): Promise<CompatAgent>;
  /** The agent's ledger rows, oldest first. */
  ledger(agentId: string): LedgerRow[];
  /** How many budget refusals the gateway recorded for the agent. */
  refusals(agentId: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Start the server the compatibility tests drive their clients against.
 * @example
 *   const s = await startCompatServer('ai-sdk');
 *   const openai = createOpenAI({ baseURL: s.openaiBaseUrl, apiKey: s.agent.token });
 */
export async function startCompatServer(name: string): Promise<CompatServer> {
  const t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway, providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 0, chunkDelayMs: 0, failures: [] } } } } });
  const mint = async (who: string, budgetUsd: number): Promise<CompatAgent> => {
    const r = await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: who, budgetUsd }) });
    expect(r.status).toBe(201);
    const body = (await r.json()) as CompatAgent;
    return { agentId: body.agentId, token: body.token };
  };
  const agent = await mint(name, 5);
  return {
    t,
    openaiBaseUrl: `${t.rt.url}/v1`,
    anthropicBaseUrl: t.rt.url,
    agent,
    mint,
    ledger: (agentId) =>
      sqliteOf(t.rt.state)
        .prepare('SELECT endpoint, model, stream, status, cost_micros, prompt_tokens, completion_tokens FROM llm_requests WHERE agent_id = ? ORDER BY id')
        .all(agentId) as LedgerRow[],
    refusals: async (agentId) => {
      const r = await t.api(`/api/events?agentId=${agentId}&limit=1000`);
      const { events } = (await r.json()) as { events: Array<{ type: string }> };
      return events.filter((e) => e.type === 'budget.refused').length;
    },
    stop: () => t.stop(),
  };
}

/**
 * Run `fn` and check what it cost: every call it made is in the ledger, served (`ok`) and
 * charged (cost > 0), on the expected endpoints. Returns `fn`'s result.
 * @example
 *   const text = await metered(s, s.agent, ['chat'], () => client.invoke('hi'));
 */
export async function metered<T>(s: CompatServer, agent: CompatAgent, endpoints: string[], fn: () => Promise<T>): Promise<T> {
  const before = s.ledger(agent.agentId).length;
  const out = await fn();
  const rows = s.ledger(agent.agentId).slice(before);
  expect(rows.map((r) => r.endpoint)).toEqual(endpoints);
  for (const r of rows) {
    expect(r.status).toBe('ok');
    expect(r.cost_micros).toBeGreaterThan(0);
    expect(r.prompt_tokens).toBeGreaterThan(0);
  }
  return out;
}

/** A `fetch` that counts the HTTP attempts a client makes (its retries included). */
export function countingFetch(): { fetch: typeof fetch; count: () => number } {
  let n = 0;
  return {
    fetch: ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
      n++;
      return fetch(input, init);
    }) as typeof fetch,
    count: () => n,
  };
}

/**
 * The budget refusal as every client must see it: raised after ONE attempt (the gateway recorded
 * one refusal and the client sent one request, so no retry), nothing charged, and a message that
 * names the budget and says how to raise it. Returns the error for client-specific checks.
 * @example
 *   const err = await refusedOnce(s, poor, counter, () => client.chat.completions.create(...));
 */
export async function refusedOnce(s: CompatServer, agent: CompatAgent, counter: { count: () => number }, fn: () => Promise<unknown>): Promise<Error> {
  const refusalsBefore = await s.refusals(agent.agentId);
  const rowsBefore = s.ledger(agent.agentId).length;
  const attemptsBefore = counter.count();
  const err = await fn().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'the call should have been refused').toBeInstanceOf(Error);
  expect(counter.count() - attemptsBefore).toBe(1);
  expect((await s.refusals(agent.agentId)) - refusalsBefore).toBe(1);
  expect(s.ledger(agent.agentId).length).toBe(rowsBefore);
  const message = (err as Error).message;
  expect(message).toMatch(/budget/i);
  expect(message).toContain(`/api/agents/${agent.agentId}/budget`);
  return err as Error;
}

/**
 * Export the four variables iron-cage gives a supervised agent (src/gateway/gateway.service.ts
 * `agentEnv`), so clients built with no options find the gateway as an unmodified agent does.
 * Each test file runs in its own process, so this does not leak into other files.
 * @example
 *   exportAgentEnv(s); const client = new OpenAI(); // talks to the gateway as s.agent
 */
export function exportAgentEnv(s: CompatServer): void {
  Object.assign(process.env, {
    OPENAI_BASE_URL: s.openaiBaseUrl,
    OPENAI_API_KEY: s.agent.token,
    ANTHROPIC_BASE_URL: s.anthropicBaseUrl,
    ANTHROPIC_API_KEY: s.agent.token,
  });
}

/** Budget for an agent that can afford nothing: every call is refused at the door. */
export const NO_BUDGET_USD = 0.000001;

/** The structured output every client is asked for: strings, an integer, an array and an enum. */
export const Person = z.object({ name: z.string(), age: z.number().int(), tags: z.array(z.string()), role: z.enum(['lead', 'contact']) });

/** The one tool every client gets: its name, description and arguments. */
export const WEATHER = {
  name: 'get_weather',
  description: 'The current weather in a city',
  args: z.object({ city: z.string() }),
  /** A prompt that asks for the tool, so the loop takes two calls: the tool call, then the answer. */
  prompt: 'What is the weather in Paris? Use the get_weather tool.',
  result: (city: string) => ({ city, temperatureC: 21 }),
};
