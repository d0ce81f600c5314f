import { basename, dirname } from 'node:path';
import { microsToUsd, usdToMicros } from '../core/money.js';
import { titled, type InjectionSeen, type TriggerLeads } from './controller.js';
import { formatElapsed } from '../core/duration.js';
import { costRows, fetchRunViews, getJson, runTimeOf, type Row } from '../runtime/index.js';
import { usd as money } from './format.js';

// The final results: read through the same REST routes the dashboard reads (which read the
// database), so the table in the terminal and the page show the same figures.

export interface DemoResults {
  agentId: string;
  status: string;
  leadsProcessed: number;
  leadsTotal: number | null;
  succeeded: number | null;
  failed: number | null;
  /** 0-1; null when the agent reported no outcomes. */
  successRate: number | null;
  totalCostUsd: number;
  limitUsd: number | null;
  requests: number;
  costByModel: Array<{ model: string; requests: number; costUsd: number }>;
  baseline: { model: string; costUsd: number; savedUsd: number } | null;
  piiBlocked: number;
  /** This run's agent only: its calls the open circuit blocked, and what they would have cost. */
  breaker: { blockedCalls: number; savedUsd: number; fallback: string | null };
  runTimeMs: number;
  triggers: TriggerLeads;
  /** Files written by the SMTP sink. */
  mails: string[];
  /** The key each upstream LLM call carried (hash prefix), and the first lead a rotated one was seen at. */
  keys: { seen: Array<{ lead: number | null; key: string }>; newKeyFromLead: number | null };
  /**
   * The prompt injection moment: the Protection panel's counter, what was flagged where, the rule
   * that refused the agent's calls after it, and the agent's outreach e-mails (the mail service's
   * calls through the proxy): sent, and refused by a policy.
   */
  injection: {
    detected: number;
    finding: InjectionSeen['finding'];
    rule: string | null;
    outreach: { service: string; sent: number; refused: number };
  };
}

interface CallsPage {
  calls: Array<{ reason: string | null; status: number | null }>;
  nextBefore: number | null;
}

/** The calls the policies refused (a rule's deny, a person's denial, nobody deciding in time). */
const POLICY_REFUSALS = new Set(['policy_denied', 'approval_denied', 'approval_expired']);

/**
 * Collect the results of the run from a live iron-cage (before it shuts down).
 *
 * @example
 * const r = await fetchResults({ url: rt.url, adminToken: rt.adminToken, agentId, breakerService: 'linkedin', runTimeMs: Date.now() - t0,
 *   triggers: controller.triggers, mails: sink.received().map((m) => m.file), keysSeen: services.keysSeen() });
 * terminal.print(resultsTable(r));
 */
export async function fetchResults(o: {
  url: string;
  adminToken: string;
  agentId: string;
  breakerService: string;
  runTimeMs: number;
  triggers: TriggerLeads;
  mails: string[];
  keysSeen: Array<{ lead: number | null; key: string }>;
  /** What the controller saw of the injection, and the service the agent sends its e-mail through. */
  injection: InjectionSeen;
  mailService: string;
}): Promise<DemoResults> {
  const get = <T>(path: string): Promise<T> => getJson<T>(o.url, o.adminToken, path);
  const id = encodeURIComponent(o.agentId);
  const { status, costs, protection, breakers } = await fetchRunViews(o);
  // This agent's calls to a service (a --keep database holds earlier runs' calls too).
  const callsTo = async (service: string): Promise<CallsPage['calls']> => {
    const all: CallsPage['calls'] = [];
    for (let before: number | null = null, first = true; first || before !== null; first = false) {
      const page: CallsPage = await get<CallsPage>(`/api/tools/calls?agentId=${id}&service=${encodeURIComponent(service)}&limit=1000${before === null ? '' : `&before=${before}`}`);
      all.push(...page.calls);
      before = page.nextBefore;
    }
    return all;
  };
  const blocked = (await callsTo(o.breakerService)).filter((c) => c.reason === 'circuit_open').length;
  const mailCalls = await callsTo(o.mailService);
  const service = breakers.services.find((s) => s.service === o.breakerService);
  const p = status.progress;
  const outcomes = (p.succeeded ?? 0) + (p.failed ?? 0);
  return {
    agentId: o.agentId,
    status: status.status,
    leadsProcessed: p.done,
    leadsTotal: p.total,
    succeeded: p.succeeded,
    failed: p.failed,
    successRate: outcomes > 0 ? (p.succeeded ?? 0) / outcomes : null,
    totalCostUsd: costs.spentUsd ?? 0,
    limitUsd: costs.limitUsd,
    requests: costs.requests,
    costByModel: costs.byModel.map((m) => ({ model: m.model, requests: m.requests, costUsd: m.costUsd })),
    baseline: costs.baseline,
    piiBlocked: protection.piiLeaksBlocked,
    breaker: {
      blockedCalls: blocked,
      savedUsd: microsToUsd(blocked * usdToMicros(service?.costPerCallUsd ?? 0)),
      fallback: service?.display.fallback ?? null,
    },
    runTimeMs: runTimeOf(status, o.runTimeMs),
    triggers: o.triggers,
    mails: o.mails,
    keys: { seen: o.keysSeen, newKeyFromLead: o.keysSeen.find((k) => k.key !== o.keysSeen[0]?.key)?.lead ?? null },
    injection: {
      detected: protection.promptInjectionAttempts ?? 0,
      finding: o.injection.finding,
      rule: o.injection.rule?.name ?? null,
      outreach: {
        service: o.mailService,
        sent: mailCalls.filter((c) => c.status !== null && c.status >= 200 && c.status < 300).length,
        refused: mailCalls.filter((c) => c.reason !== null && POLICY_REFUSALS.has(c.reason)).length,
      },
    },
  };
}

const at = (lead: number | null): string => (lead === null ? 'did not fire' : `lead ${lead}`);

/**
 * The e-mails on one row, however many: the file when there is one, else how many, the folder
 * and the files' names.
 *
 * @example
 * mailsText(['/d/mail/001.eml', '/d/mail/002.eml']) // '2 in /d/mail: 001.eml, 002.eml'
 */
export function mailsText(files: readonly string[]): string {
  if (files.length === 1) return files[0]!;
  const dirs = new Set(files.map((f) => dirname(f)));
  if (dirs.size !== 1) return `${files.length}: ${files.join(', ')}`;
  return `${files.length} in ${[...dirs][0]}: ${files.map((f) => basename(f)).join(', ')}`;
}

/** The Protection panel's count, and where the scenario's one was found. */
function injectionText(r: DemoResults): string {
  const i = r.injection;
  const f = i.finding;
  const where = f ? ` at ${at(r.triggers.injection)}, in ${titled(f.service)}'s answer (${f.signals.join(', ')})` : '';
  return `${i.detected} detected${where}`;
}

/** What the agent's e-mails came to: sent, and refused after the injection (by which rule). */
function outreachText(r: DemoResults): string {
  const o = r.injection.outreach;
  const rule = r.injection.rule;
  const after = r.triggers.refusal === null ? '' : ` from ${at(r.triggers.refusal)}`;
  return `${o.sent} sent, ${o.refused} refused${rule ? ` by policy rule ${rule}${after}` : ''}`;
}

/**
 * The results as a two-column table (plain text, no colour).
 *
 * @example
 * process.stdout.write(resultsTable(results));
 */
export function resultsTable(r: DemoResults): string {
  const rows: Row[] = [
    ['Leads processed', `${r.leadsProcessed}${r.leadsTotal ? ` / ${r.leadsTotal}` : ''}`],
    ['Success rate', r.successRate === null ? 'not reported' : `${(r.successRate * 100).toFixed(1)}% (${r.succeeded ?? 0} ok, ${r.failed ?? 0} failed)`],
    ...costRows({ spentUsd: r.totalCostUsd, limitUsd: r.limitUsd, requests: r.requests, byModel: r.costByModel }),
    // Said as what it compares, or not at all: a row nobody has to explain.
    ...(r.baseline ? [[`vs all on ${r.baseline.model}`, `${money(r.baseline.savedUsd)} saved (every call on ${r.baseline.model}: ${money(r.baseline.costUsd)})`] as Row] : []),
    ['PII blocked', String(r.piiBlocked)],
    ['Breaker savings', `${r.breaker.blockedCalls} calls blocked, ${money(r.breaker.savedUsd)} saved${r.breaker.fallback ? `, ${r.breaker.fallback}` : ''}`],
    ['Run time', formatElapsed(r.runTimeMs)],
    ['Key rotation', r.triggers.rotation === null ? 'not done' : `at lead ${r.triggers.rotation}, no restart; the LLM upstream saw the new key from ${at(r.keys.newKeyFromLead)}`],
    ['Prompt injection', injectionText(r)],
    ['Outreach e-mails', outreachText(r)],
    [
      'Triggers',
      `circuit opened ${at(r.triggers.breaker)} · key rotated ${at(r.triggers.rotation)} · PII ${at(r.triggers.pii)} · 90% of budget ${at(r.triggers.budgetWarning)} · injection ${at(r.triggers.injection)}`,
    ],
    ...(r.mails.length > 0 ? [['Budget e-mail', mailsText(r.mails)] as Row] : []),
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const width = Math.max(...rows.map(([k, v]) => k.length + v.length)) + 5;
  const rule = '─'.repeat(Math.min(width, 100));
  return ['', 'Results', rule, ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`), rule, ''].join('\n');
}
