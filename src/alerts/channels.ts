import { emailBudgetAlert, emailRunwayAlert, slackBudgetAlert, slackRunwayAlert, type BudgetAlert, type RunwayAlert, type EmailMessage, type SlackMessage } from '../domain/budget/index.js';
import type { Readable } from 'node:stream';
import { type CapRules, readCapped } from '../core/body.js';
import { ValidationError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { RetryPolicy } from '../domain/reliability/index.js';

// The alert dispatcher's vocabulary (messages, results, channel settings, defaults) and the
// small judgements it makes about a failed delivery: retry it or not, and what to report.

export type AlertChannel = 'webhook' | 'email';

/** What an alert is about: a budget threshold, PII found at one of the doors, or a loop, stall or spend spike the watch noticed. */
export type AlertKind = 'budget' | 'pii' | 'watch' | 'approval';

export interface AlertMessage {
  /** Correlates the per-channel results with the alert. */
  id: string;
  kind: AlertKind;
  /** The agent it is about (shown on log lines and recorded with the delivery); null for none. */
  agentId: string | null;
  slack: SlackMessage;
  /** Absent: the alert is not e-mailed (a PII finding: one e-mail per finding would bury the budget ones). */
  email?: EmailMessage;
}

export interface AlertResult {
  channel: AlertChannel;
  ok: boolean;
  attempts: number;
  /** Why delivery failed; secrets from the channel URLs are masked out. */
  error?: string;
  alertId: string;
  kind: AlertKind;
  agentId: string | null;
  /** Where it went, as it may be shown: the e-mail's recipients, or the webhook's origin (`https://hooks.example/…`). */
  target?: string;
}

export interface EmailChannelConfig {
  to: string;
  from: string;
  /** `smtp://` or `smtps://`, optionally with `user:pass@`. */
  smtpUrl: string;
}

export interface AlertTimeouts {
  /** Whole webhook request, response body included. */
  webhookMs: number;
  /** SMTP connect, greeting and socket inactivity, each. */
  smtpMs: number;
  /** How long `close()` waits for deliveries still under way. */
  closeMs: number;
}

export interface AlertDispatcherOptions {
  webhookUrl: string | null;
  email: EmailChannelConfig | null;
  logger: Logger;
  onResult?: (result: AlertResult) => void;
  /**
   * Whether the dispatcher logs each result itself (default true). The runtime records each
   * result as an `alert.delivery` event, which the terminal prints: one line per delivered
   * alert, not the dispatcher's and the event's both.
   */
  logResults?: boolean;
  retry?: Partial<RetryPolicy>;
  timeouts?: Partial<AlertTimeouts>;
  /** Waits between attempts; tests pass one that records the delay and returns at once. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Full-jitter backoff ceilings of 0.5, 1 and 2 s keep a retried e-mail inside the spec's 5 s
 * when the server only hiccups; the elapsed cap bounds the worst case against a dead channel.
 */
export const DEFAULT_ALERT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  attempts: 4,
  baseMs: 500,
  maxMs: 5_000,
  maxElapsedMs: 20_000,
});

export const DEFAULT_ALERT_TIMEOUTS: Readonly<AlertTimeouts> = Object.freeze({ webhookMs: 5_000, smtpMs: 3_000, closeMs: 3_000 });

/** Slack reports what is wrong with a payload in the body; more than this is not a reason. */
const MAX_ERROR_BODY = 512;

/** SMTP failures that repeat identically however often they are retried. */
const PERMANENT_SMTP_CODES = new Set(['EAUTH', 'EENVELOPE', 'EMESSAGE', 'EREQUIRETLS']);

/** One message per channel, built by the budget domain. */
export function budgetAlertMessage(alert: BudgetAlert): AlertMessage & { email: EmailMessage } {
  return {
    id: `budget:${alert.agentId}:${alert.kind}:${alert.threshold}`,
    kind: 'budget',
    agentId: alert.agentId,
    slack: slackBudgetAlert(alert),
    email: emailBudgetAlert(alert),
  };
}

/** The burn-rate alarm of a budget (a budget alert: e-mailed too); one id per alarm, so each firing is delivered. */
export function runwayAlertMessage(alert: RunwayAlert): AlertMessage & { email: EmailMessage } {
  return {
    id: `budget:${alert.agentId}:runway:${alert.at}`,
    kind: 'budget',
    agentId: alert.agentId,
    slack: slackRunwayAlert(alert),
    email: emailRunwayAlert(alert),
  };
}

export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | null,
    body: string,
  ) {
    super(`HTTP ${status}${body ? `: ${body}` : ''}`);
  }

  /** 429 and 5xx may pass; any other answer (a 4xx, a redirect) would come back the same. */
  get retryable(): boolean {
    return this.status === 429 || this.status >= 500;
  }
}

export class Aborted extends Error {
  constructor(
    /** Set when close() came between attempts: the failure that led to the skipped retry. */
    readonly previous?: unknown,
    readonly beforeAttempt = false,
  ) {
    super('abandoned: the dispatcher closed before delivery finished');
  }
}

export function parseChannelUrl(value: string, protocols: string[], what: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ValidationError(`${what} is not a URL`);
  }
  if (!protocols.includes(url.protocol)) throw new ValidationError(`${what} must use ${protocols.join(' or ')}`);
  return url;
}

function smtpResponseCode(error: unknown): number | undefined {
  const code = (error as { responseCode?: unknown } | null)?.responseCode;
  return typeof code === 'number' ? code : undefined;
}

export function transientSmtpError(error: unknown): boolean {
  const status = smtpResponseCode(error);
  // SMTP says it outright: 4xx is "try again later", 5xx is "don't".
  if (status !== undefined) return status < 500;
  const code = (error as { code?: unknown } | null)?.code;
  return !(typeof code === 'string' && PERMANENT_SMTP_CODES.has(code));
}

/** The start of a webhook's error reply, as its reason: the rest is never read (the stream is destroyed). */
export async function readSome(body: Readable): Promise<string> {
  // A UTF-8 character is at most 4 bytes: this many hold the first MAX_ERROR_BODY characters.
  const head = await readCapped(body, 4 * MAX_ERROR_BODY, ERROR_BODY);
  return head.toString('utf8').slice(0, MAX_ERROR_BODY).trim();
}

const ERROR_BODY: CapRules = { tooLarge: null };

export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
