import { formatRoughly } from '../../core/duration.js';
import { formatUsd, type Micros } from '../../core/money.js';
import { formatAvgPerUnit, formatBudgetUsage, formatProjection, formatProjectionStatus, percentOf, formatPercent } from './format.js';
import type { IncreaseRecommendation, Projection } from './projection.js';
import type { ThresholdNotice } from './account.js';

// Payloads for a threshold crossing: Slack-compatible webhook JSON and an e-mail. Building them
// is pure; delivery (HTTP with retries, SMTP) belongs to the alert channels.

export interface BudgetAlert {
  agentId: string;
  agentName?: string | null;
  threshold: number;
  kind: 'warning' | 'exhausted';
  spentMicros: Micros;
  limitMicros: Micros;
  projection?: Projection | null;
  recommendation?: IncreaseRecommendation | null;
  dashboardUrl?: string | null;
  /** When the threshold was crossed; ISO 8601. */
  at: string;
}

export interface AlertContext {
  agentName?: string | null;
  projection?: Projection | null;
  recommendation?: IncreaseRecommendation | null;
  dashboardUrl?: string | null;
  at?: Date;
}

export function budgetAlert(notice: ThresholdNotice, context: AlertContext = {}): BudgetAlert {
  return {
    agentId: notice.agentId,
    agentName: context.agentName ?? null,
    threshold: notice.threshold,
    kind: notice.kind,
    spentMicros: notice.spentMicros,
    limitMicros: notice.limitMicros,
    projection: context.projection ?? null,
    recommendation: context.recommendation ?? null,
    dashboardUrl: context.dashboardUrl ?? null,
    at: (context.at ?? new Date()).toISOString(),
  };
}

function thresholdText(t: number): string {
  return `${Number((t * 100).toFixed(1))}%`;
}

function title(a: BudgetAlert): string {
  return a.kind === 'exhausted' ? 'Budget exhausted' : `Budget warning: ${thresholdText(a.threshold)} used`;
}

function agentLabel(a: Pick<BudgetAlert, 'agentId' | 'agentName'>): string {
  return a.agentName && a.agentName !== a.agentId ? `${a.agentName} (${a.agentId})` : a.agentId;
}

/** `$52.94 total (🛑 over budget)`, for a row already labelled "Projection". */
function projectionValue(p: Projection): string | null {
  return p.projectedMicros === null ? null : `${formatUsd(p.projectedMicros)} total (${formatProjectionStatus(p.status)})`;
}

function averageLine(p: Projection): string | null {
  if (p.avgPerUnitMicros === null || p.unit === null) return null;
  const progress = p.done === null ? '' : p.total === null ? ` (${p.done} ${p.unit} done)` : ` (${p.done} of ${p.total} ${p.unit})`;
  return `${formatAvgPerUnit(p.avgPerUnitMicros, p.unit)}${progress}`;
}

function actionLine(r: IncreaseRecommendation): string {
  return r.increaseMicros > 0 ? `${r.text} (new limit ${formatUsd(r.newLimitMicros)})` : r.text;
}

function consequence(a: BudgetAlert): string {
  return a.kind === 'exhausted' ? 'The agent has reached its budget: further LLM calls are refused.' : 'When the budget is reached, further LLM calls are refused.';
}

/** Slack requires &, < and > in mrkdwn to be escaped; agent names and units are user text. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface SlackText {
  type: 'plain_text' | 'mrkdwn';
  text: string;
  emoji?: boolean;
}

export type SlackBlock = { type: 'header'; text: SlackText } | { type: 'section'; text?: SlackText; fields?: SlackText[] } | { type: 'context'; elements: SlackText[] };

export interface SlackMessage {
  /** Notification and fallback text. */
  text: string;
  blocks: SlackBlock[];
}

const md = (text: string): SlackText => ({ type: 'mrkdwn', text });

/** Incoming-webhook JSON (`text` + Block Kit `blocks`). */
export function slackBudgetAlert(a: BudgetAlert): SlackMessage {
  const icon = a.kind === 'exhausted' ? '🛑' : '⚠️';
  const usage = formatBudgetUsage(a.spentMicros, a.limitMicros);
  const fields = [md(`*Spent*\n${formatUsd(a.spentMicros)}`), md(`*Limit*\n${formatUsd(a.limitMicros)}`), md(`*Used*\n${formatPercent(percentOf(a.spentMicros, a.limitMicros))}`)];
  const p = a.projection;
  const projection = p ? projectionValue(p) : null;
  const average = p ? averageLine(p) : null;
  if (projection) fields.push(md(`*Projection*\n${esc(projection)}`));
  if (average) fields.push(md(`*Average*\n${esc(average)}`));
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: `${icon} ${title(a)}`.slice(0, 150), emoji: true } },
    { type: 'section', text: md(`Agent *${esc(agentLabel(a))}* has spent *${usage}*. ${consequence(a)}`) },
    { type: 'section', fields },
  ];
  if (a.recommendation) blocks.push({ type: 'section', text: md(`*Recommended action:* ${esc(actionLine(a.recommendation))}`) });
  const context = [`Iron Cage`, a.at];
  if (a.dashboardUrl) context.push(`<${a.dashboardUrl}|Open dashboard>`);
  blocks.push({ type: 'context', elements: [md(context.join(' · '))] });
  const summary = [`${icon} ${title(a)} for agent ${agentLabel(a)}: ${usage}.`];
  if (p?.projectedMicros != null) summary.push(`${formatProjection(p.projectedMicros)} (${formatProjectionStatus(p.status)}).`);
  if (a.recommendation) summary.push(`${a.recommendation.text}.`);
  return { text: esc(summary.join(' ')), blocks };
}

export interface EmailMessage {
  subject: string;
  text: string;
}

/** Subject and plain-text body; the channel adds from/to. */
export function emailBudgetAlert(a: BudgetAlert): EmailMessage {
  const usage = formatBudgetUsage(a.spentMicros, a.limitMicros);
  // A header line must not carry CR/LF from a user-chosen agent name.
  const what = a.kind === 'exhausted' ? 'Budget exhausted' : `Budget at ${thresholdText(a.threshold)}`;
  const subject = `[Iron Cage] ${what} for ${agentLabel(a)}: ${usage}`.replace(/[\r\n]+/g, ' ');
  const rows: Array<[string, string]> = [
    ['Agent', agentLabel(a)],
    ['Spent', usage],
    ['Threshold', thresholdText(a.threshold)],
  ];
  const p = a.projection;
  const average = p ? averageLine(p) : null;
  const projection = p ? projectionValue(p) : null;
  if (average) rows.push(['Average', average]);
  if (projection) rows.push(['Projection', projection]);
  if (a.recommendation) rows.push(['Recommended', actionLine(a.recommendation)]);
  rows.push(['Time', a.at]);
  if (a.dashboardUrl) rows.push(['Dashboard', a.dashboardUrl]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = [`${title(a)} for agent ${agentLabel(a)}.`, '', ...rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`), '', consequence(a), 'This alert is sent once per threshold.'];
  return { subject, text: `${lines.join('\n')}\n` };
}

/** The burn-rate alarm: at the current rate the budget is gone within the alert. */
export interface RunwayAlert {
  agentId: string;
  agentName?: string | null;
  spentMicros: Micros;
  limitMicros: Micros;
  ratePerMinMicros: number;
  runwayMs: number;
  alertMs: number;
  /** The runway in words (formatRunway). */
  text: string;
  dashboardUrl?: string | null;
  at: string;
}

function runwayHeadline(a: RunwayAlert): string {
  return `at this rate the ${formatUsd(a.limitMicros)} budget is gone in ${formatRoughly(a.runwayMs)}`;
}

/** Incoming-webhook JSON for the burn-rate alarm. */
export function slackRunwayAlert(a: RunwayAlert): SlackMessage {
  const usage = formatBudgetUsage(a.spentMicros, a.limitMicros);
  const context = ['Iron Cage', a.at];
  if (a.dashboardUrl) context.push(`<${a.dashboardUrl}|Open dashboard>`);
  return {
    text: esc(`⏳ Budget runway for agent ${agentLabel(a)}: ${runwayHeadline(a)} (${usage}).`),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: `⏳ Budget runway under ${formatRoughly(a.alertMs)}`.slice(0, 150), emoji: true } },
      { type: 'section', text: md(`Agent *${esc(agentLabel(a))}*: ${esc(runwayHeadline(a))}.`) },
      { type: 'section', fields: [md(`*Spent*\n${esc(usage)}`), md(`*Rate*\n${formatUsd(Math.round(a.ratePerMinMicros))}/min`), md(`*Runway*\n${esc(a.text)}`)] },
      { type: 'context', elements: [md(context.join(' · '))] },
    ],
  };
}

/** Subject and plain-text body of the burn-rate alarm. */
export function emailRunwayAlert(a: RunwayAlert): EmailMessage {
  const subject = `[Iron Cage] Budget runway ${formatRoughly(a.runwayMs)} for ${agentLabel(a)}`.replace(/[\r\n]+/g, ' ');
  const rows: Array<[string, string]> = [
    ['Agent', agentLabel(a)],
    ['Spent', formatBudgetUsage(a.spentMicros, a.limitMicros)],
    ['Rate', `${formatUsd(Math.round(a.ratePerMinMicros))}/min (last 5 min)`],
    ['Runway', a.text],
    ['Alert under', formatRoughly(a.alertMs)],
    ['Time', a.at],
  ];
  if (a.dashboardUrl) rows.push(['Dashboard', a.dashboardUrl]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = [
    `Agent ${agentLabel(a)}: ${runwayHeadline(a)}.`,
    '',
    ...rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`),
    '',
    'This alert is sent once until the runway is back above twice the alert or the limit changes.',
  ];
  return { subject, text: `${lines.join('\n')}\n` };
}
