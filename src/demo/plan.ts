import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { ConfigError } from '../core/errors.js';
import { clearbitCompanyBody, linkedinProfileBody, type Lead } from './leads.js';

// The agent's plan (demo/lead_gen_agent.json): which model each step uses, how long an answer
// it allows, and its prompt templates. The Python agent reads the same file, so the requests
// built here for the spend prediction are byte for byte the ones it sends.

const step = z.strictObject({
  model: z.string().min(1),
  max_tokens: z.number().int().positive().max(32_000),
  system: z.string().min(1),
  user: z.string().min(1),
});
const planSchema = z.strictObject({
  _comment: z.string().optional(),
  steps: z.record(z.string(), step),
  with_linkedin: z.array(z.string()).min(1),
  without_linkedin: z.array(z.string()).min(1),
});
export type AgentPlan = z.infer<typeof planSchema>;

export interface ChatRequest {
  model: string;
  messages: Array<{ role: 'system' | 'user'; content: string }>;
  max_tokens: number;
}

/**
 * Read and check the plan; every step a sequence names must exist.
 *
 * @example
 * const plan = loadPlan('demo/lead_gen_agent.json');
 * plan.with_linkedin // ['qualify', 'draft']
 */
export function loadPlan(path: string): AgentPlan {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`agent plan ${path}: ${(e as Error).message}`);
  }
  const r = planSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ConfigError(`agent plan ${path}: ${i.path.join('.') || '(top)'}: ${i.message}`);
  }
  for (const seq of ['with_linkedin', 'without_linkedin'] as const) {
    for (const name of r.data[seq]) if (!r.data.steps[name]) throw new ConfigError(`agent plan ${path}: ${seq}: no step named "${name}"`);
  }
  return r.data;
}

/**
 * Python's `template.format(**fields)` for plain `{name}` fields.
 *
 * @example
 * fill('Lead #{n}', { n: '7' }) // 'Lead #7'
 */
export function fill(template: string, fields: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => {
    if (!(k in fields)) throw new ConfigError(`agent plan: unknown template field {${k}}`);
    return fields[k]!;
  });
}

/**
 * The chat requests the agent sends for lead `n` (1-based): with LinkedIn's profile while
 * LinkedIn answers, with Clearbit's record and the extra enrichment step once it does not.
 * `injected`: what the Clearbit record's description carries for this lead (clearbitCompanyBody).
 *
 * @example
 * leadRequests(plan, leads[0], 1, 100, true).map((r) => r.model) // ['gpt-4o-mini', 'gpt-4']
 */
export function leadRequests(plan: AgentPlan, lead: Lead, n: number, total: number, linkedinUp: boolean, injected?: string): ChatRequest[] {
  const fields: Record<string, string> = {
    n: String(n),
    total: String(total),
    id: lead.id,
    company: lead.company,
    domain: lead.domain,
    industry: lead.industry,
    employees: String(lead.employees),
    city: lead.city,
    contact: lead.contact,
    title: lead.title,
    source: linkedinUp ? 'LinkedIn' : 'Clearbit',
    record: linkedinUp ? linkedinProfileBody(lead) : clearbitCompanyBody(lead, injected),
  };
  return (linkedinUp ? plan.with_linkedin : plan.without_linkedin).map((name) => {
    const s = plan.steps[name]!;
    return {
      model: s.model,
      messages: [
        { role: 'system', content: fill(s.system, fields) },
        { role: 'user', content: fill(s.user, fields) },
      ],
      max_tokens: s.max_tokens,
    };
  });
}

/**
 * `Lead #67 of 100` in the last user message: which lead a call is for (null if none).
 *
 * @example
 * leadOf({ messages: [{ role: 'user', content: 'Lead #67 of 100 (L067): …' }] }) // 67
 */
export function leadOf(body: unknown): number | null {
  const msgs = (body as { messages?: Array<{ role?: string; content?: unknown }> } | null)?.messages;
  if (!Array.isArray(msgs)) return null;
  const user = [...msgs].reverse().find((m) => m?.role === 'user' && typeof m.content === 'string');
  const m = typeof user?.content === 'string' ? /Lead #(\d+) of \d+/.exec(user.content) : null;
  return m ? Number(m[1]) : null;
}
