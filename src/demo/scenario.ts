import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { yaml } from '../core/on-first-use.js';
import * as z from 'zod';
import { PriceBook } from '../domain/budget/index.js';
import { ConfigError } from '../core/errors.js';
import { formatUsd, MICROS_PER_USD } from '../core/money.js';
import { usdAmount } from '../core/validation.js';
import { detectInjectionJson } from '../domain/injection/index.js';
import { scan } from '../domain/pii/index.js';
import { promptTokensOf } from '../gateway/index.js';
import { clearbitCompanyBody, linkedinProfileBody, parseLeads, type Lead } from './leads.js';
import { leadRequests, loadPlan, type AgentPlan, type ChatRequest } from './plan.js';
import { answerText } from './text.js';

// demo/scenario.yaml: when each scripted moment of the 100-lead demo happens. Every dollar
// figure is predicted from the agent's own requests (demo/lead_gen_agent.json over
// demo/leads.csv) priced by the gateway's price table, and a scenario whose budget warning
// would not land on its lead, or whose prompt injection would not be the one thing the cage
// flags (or would carry personal data), is refused before anything starts.

const lead = z.number().int().positive();
// The same money rule as every other boundary (finite, > $0, <= $1,000,000, micro-dollar precision), in dollars.
const dollars = usdAmount.transform((micros) => micros / MICROS_PER_USD);
const schema = z.strictObject({
  leads: z.number().int().positive().max(10_000),
  leads_file: z.string().min(1).default('leads.csv'),
  agent_plan: z.string().min(1).default('lead_gen_agent.json'),
  budget_usd: dollars,
  triggers: z.strictObject({
    breaker: z.strictObject({ lead, service: z.literal('linkedin'), status: z.number().int() }),
    rotation: z.strictObject({ lead, secret: z.literal('OPENAI_API_KEY') }),
    pii: z.strictObject({ lead, text: z.string().min(1).max(1_000) }),
    budget_warning: z.strictObject({ lead, approve_usd: dollars }),
    injection: z.strictObject({ lead, service: z.literal('clearbit'), text: z.string().min(1).max(1_000) }),
  }),
});

export interface Scenario {
  leads: number;
  budgetUsd: number;
  triggers: {
    breaker: { lead: number; service: 'linkedin'; status: number };
    rotation: { lead: number; secret: 'OPENAI_API_KEY' };
    pii: { lead: number; text: string };
    budgetWarning: { lead: number; approveUsd: number };
    /** Clearbit's company record for this lead carries `text` in its description. */
    injection: { lead: number; service: 'clearbit'; text: string };
  };
  /** The scenario file, and the leads file and agent plan it names (absolute paths). */
  file: string;
  leadsFile: string;
  planFile: string;
  /** The first `leads` rows of the leads file. */
  leadList: Lead[];
  plan: AgentPlan;
}

/** The fraction of the budget at which the warning (and the approval) comes. */
export const WARNING_RATIO = 0.9;

const usd = formatUsd; // micro-dollars here

/**
 * Read, validate and check that the numbers land. Throws ConfigError (exit 2) naming the key.
 * The shipped files (`demo/`, their fingerprint LANDED) are not checked again: their check is the
 * test suite's (test/demo/scenario.test.ts runs checkScenario on them), and at start it was ~0.9-1.3 s
 * of the 1.7-2.2 s before the dashboard's line (every call of the run composed and priced, every
 * enrichment record read for injection). Files of any other bytes are checked whole.
 *
 * @example
 * const s = loadScenario('demo/scenario.yaml');
 * s.triggers.budgetWarning.lead // 85
 */
export function loadScenario(path: string): Scenario {
  const s = parseScenario(path);
  if (scenarioFingerprint(s) !== LANDED) checkScenario(s);
  return s;
}

/**
 * scenarioFingerprint of the shipped files (demo/scenario.yaml, demo/leads.csv,
 * demo/lead_gen_agent.json), which the test suite checks whole (checkScenario). Once a byte of
 * them changes they are checked at every start, and that test fails with their new fingerprint,
 * until this is it.
 */
export const LANDED = '272d67c8688ca9320baffcd41c0850ffe01282ecb7aefdccd5eb5d7f28451da3';

/**
 * The SHA-256 of a scenario's files: the scenario, its leads and its agent plan.
 *
 * @example
 * scenarioFingerprint(loadScenario('demo/scenario.yaml')) === LANDED // true for the shipped files
 */
export function scenarioFingerprint(s: Scenario): string {
  const h = createHash('sha256');
  for (const f of [s.file, s.leadsFile, s.planFile]) h.update(readFileSync(f)).update('\0');
  return h.digest('hex');
}

/**
 * The checks that depend on the engines, not on the file's shape: the PII line has PII, the
 * injection has none and is flagged in its record and in no other one, and the money lands.
 * Throws ConfigError naming what does not.
 */
export function checkScenario(s: Scenario): void {
  const fail = (msg: string): never => {
    throw new ConfigError(`scenario ${s.file}: ${msg}`);
  };
  checkContent(s, fail);
  checkLanding(s, fail);
}

/**
 * `loadScenario` without the cost-landing check: for calibrating the agent's plan.
 *
 * @example
 * predictSpend(readScenario('demo/scenario.yaml')).at(-1) // the whole run's cost
 */
export function readScenario(path: string): Scenario {
  const s = parseScenario(path);
  checkContent(s, (msg) => {
    throw new ConfigError(`scenario ${s.file}: ${msg}`);
  });
  return s;
}

/** The file read and its shape validated (keys, types, the triggers' order, the leads and the plan read): ConfigError naming the key. */
function parseScenario(path: string): Scenario {
  const file = resolve(path);
  let raw: unknown;
  try {
    raw = yaml().parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`scenario ${file}: ${(e as Error).message}`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ConfigError(`scenario ${file}: ${i.path.join('.') || '(top)'}: ${i.message}`);
  }
  const d = r.data;
  const fail = (msg: string): never => {
    throw new ConfigError(`scenario ${file}: ${msg}`);
  };
  const t = d.triggers;
  const order = [
    ['breaker', t.breaker.lead],
    ['rotation', t.rotation.lead],
    ['pii', t.pii.lead],
    ['budget_warning', t.budget_warning.lead],
  ] as const;
  for (const [name, n] of order) if (n > d.leads) fail(`triggers.${name}.lead: ${n} is past the last lead (${d.leads})`);
  for (let i = 1; i < order.length; i++) {
    if (order[i]![1] <= order[i - 1]![1]) {
      fail(`triggers: the leads must come in the order breaker < rotation < pii < budget_warning (got ${order.map(([k, n]) => `${k} ${n}`).join(', ')})`);
    }
  }
  const status = t.breaker.status;
  if (!(status === 408 || status === 429 || (status >= 500 && status <= 599))) {
    fail(`triggers.breaker.status: ${status} does not count against a service (use 408, 429 or a 5xx)`);
  }
  const inj = t.injection;
  if (inj.lead > d.leads) fail(`triggers.injection.lead: ${inj.lead} is past the last lead (${d.leads})`);
  if (inj.lead < t.breaker.lead) fail(`triggers.injection.lead: ${inj.lead} is before triggers.breaker.lead ${t.breaker.lead}: the agent asks Clearbit only once LinkedIn fails`);

  const dir = dirname(file);
  const leadsFile = resolve(dir, d.leads_file);
  const planFile = resolve(dir, d.agent_plan);
  let text: string;
  try {
    text = readFileSync(leadsFile, 'utf8');
  } catch (e) {
    return fail(`leads_file: ${(e as Error).message}`);
  }
  const all = parseLeads(text, leadsFile);
  if (all.length < d.leads) fail(`leads: ${d.leads} but ${leadsFile} has ${all.length}`);
  return {
    leads: d.leads,
    budgetUsd: d.budget_usd,
    triggers: {
      breaker: { ...t.breaker },
      rotation: { ...t.rotation },
      pii: { ...t.pii },
      budgetWarning: { lead: t.budget_warning.lead, approveUsd: t.budget_warning.approve_usd },
      injection: { ...t.injection },
    },
    file,
    leadsFile,
    planFile,
    leadList: all.slice(0, d.leads),
    plan: loadPlan(planFile),
  };
}

/** What the engines make of the scenario's texts: the PII line has PII, the injection has none and is flagged in its record. */
function checkContent(s: Scenario, fail: (msg: string) => never): void {
  const t = s.triggers;
  if (scan(t.pii.text).length === 0) fail("triggers.pii.text: the PII engine finds nothing in it (put the CEO's e-mail address in it)");
  const inj = t.injection;
  // What the tool proxy would redact is not what the agent reads: the prompts, the spend and the PII count would move.
  const found = scan(inj.text);
  if (found.length > 0)
    fail(
      `triggers.injection.text: the PII engine finds ${[...new Set(found.map((f) => f.type))].join(', ')} in it, which the cage would redact before the agent reads it (write the address some other way)`,
    );
  // Judged as the tool proxy judges the answer: its JSON, string by string.
  if (!detectInjectionJson(JSON.parse(clearbitCompanyBody(s.leadList[inj.lead - 1]!, inj.text))).flagged) {
    fail('triggers.injection.text: the prompt injection detector does not flag it in the Clearbit record (address the AI assistant and tell it to ignore its instructions)');
  }
}

function checkLanding(s: Scenario, fail: (msg: string) => never): void {
  const spend = predictSpendMicros(s);
  const limit = Math.round(s.budgetUsd * 1e6);
  const warnAt = Math.ceil(limit * WARNING_RATIO);
  const total = spend.at(-1)!;
  const lead = spend.findIndex((v) => v >= warnAt) + 1;
  const want = s.triggers.budgetWarning.lead;
  const budget = usd(limit);
  if (lead === 0)
    fail(
      `numbers that cannot land: the agent spends ${usd(total)} over ${s.leads} leads, so 90% of ${budget} is never reached (triggers.budget_warning.lead is ${want}); raise the agent's max_tokens in ${s.planFile} or lower budget_usd`,
    );
  if (lead !== want) {
    fail(
      `numbers that cannot land: spend reaches 90% of ${budget} at lead ${lead} (${usd(spend[lead - 1]!)}), not at triggers.budget_warning.lead ${want} (${usd(spend[want - 1]!)} by then); move the lead or change the agent's max_tokens in ${s.planFile}`,
    );
  }
  if (total <= limit) fail(`numbers that cannot land: the whole run costs ${usd(total)}, within the ${budget} budget, so the approval at lead ${want} would not be needed`);
  const raised = limit + Math.round(s.triggers.budgetWarning.approveUsd * 1e6);
  if (total > raised) fail(`numbers that cannot land: the whole run costs ${usd(total)}, more than ${usd(raised)} even after the approval (triggers.budget_warning.approve_usd)`);
  // The injection moment is the first answer the cage flags: any other record it flags would bring it early.
  const inj = s.triggers.injection;
  s.leadList.forEach((l, i) => {
    const n = i + 1;
    if (n === inj.lead) return;
    const [source, body] = n < s.triggers.breaker.lead ? ['LinkedIn profile', linkedinProfileBody(l)] : ['Clearbit record', clearbitCompanyBody(l)];
    const d = detectInjectionJson(JSON.parse(body));
    if (d.flagged) {
      fail(
        `the injection cannot land: the prompt injection detector flags lead ${n}'s ${source}, which carries none (score ${d.score.toFixed(2)}: ${d.signals.join(', ') || 'classifier'}; "${d.text ?? ''}"), so the agent's e-mail would be refused from lead ${n}, not from triggers.injection.lead ${inj.lead}`,
      );
    }
  });
}

export interface PredictedCall {
  lead: number;
  request: ChatRequest;
  promptTokens: number;
  completionTokens: number;
  costMicros: number;
  /** The answer carries the scenario's PII line. */
  pii: boolean;
}

/**
 * The chat requests the agent sends for lead `n` (1-based) in this scenario: LinkedIn answers
 * before `breaker.lead`, and the Clearbit record of `injection.lead` carries the injection.
 *
 * @example
 * scenarioRequests(s, 1).map((r) => r.model) // ['gpt-4o-mini', 'gpt-4']
 */
export function scenarioRequests(s: Scenario, n: number): ChatRequest[] {
  const inj = s.triggers.injection;
  return leadRequests(s.plan, s.leadList[n - 1]!, n, s.leads, n < s.triggers.breaker.lead, n === inj.lead ? inj.text : undefined);
}

/**
 * Every LLM call the agent makes, in order, with the usage the demo LLM reports for it and its
 * price from the gateway's price table. LinkedIn answers up to `breaker.lead`; the first call
 * of `pii.lead` gets the PII line; the prompts of `injection.lead` carry Clearbit's poisoned record.
 *
 * @example
 * predictCalls(s).filter((c) => c.lead === 1).map((c) => c.request.model) // ['gpt-4o-mini', 'gpt-4']
 */
export function predictCalls(s: Scenario, prices = new PriceBook()): PredictedCall[] {
  const calls: PredictedCall[] = [];
  for (let n = 1; n <= s.leads; n++) {
    scenarioRequests(s, n).forEach((request, k) => {
      const pii = n === s.triggers.pii.lead && k === 0;
      const usage = demoUsage(request, pii ? s.triggers.pii.text : undefined);
      const costMicros = prices.price(request.model, { inputTokens: usage.promptTokens, outputTokens: usage.completionTokens }, 'openai').costMicros;
      calls.push({ lead: n, request, ...usage, costMicros, pii });
    });
  }
  return calls;
}

/**
 * The demo LLM's answer to `request` and its usage (prompt counted as the gateway counts it).
 *
 * @example
 * demoAnswer(request).completionTokens <= request.max_tokens // true
 */
export function demoAnswer(request: { model: string; messages?: unknown; max_tokens?: unknown }, insert?: string): { text: string; promptTokens: number; completionTokens: number } {
  const prompt = JSON.stringify(request.messages ?? []);
  const max = typeof request.max_tokens === 'number' && request.max_tokens > 0 ? request.max_tokens : 256;
  const a = answerText(request.model, prompt, max, insert);
  return { text: a.text, promptTokens: promptTokensOf('chat', request.model, request as Record<string, unknown>), completionTokens: a.tokens };
}

function demoUsage(request: ChatRequest, insert?: string): { promptTokens: number; completionTokens: number } {
  const { promptTokens, completionTokens } = demoAnswer(request, insert);
  return { promptTokens, completionTokens };
}

function predictSpendMicros(s: Scenario): number[] {
  const out = new Array<number>(s.leads).fill(0);
  for (const c of predictCalls(s)) out[c.lead - 1]! += c.costMicros;
  for (let i = 1; i < out.length; i++) out[i]! += out[i - 1]!;
  return out;
}

/**
 * Cumulative spend in USD after each lead (index 0 = after lead 1).
 *
 * @example
 * predictSpend(loadScenario('demo/scenario.yaml'))[22] // ≈ 5.29
 */
export function predictSpend(s: Scenario): number[] {
  return predictSpendMicros(s).map((m) => m / 1e6);
}
