import type { Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { type Undici, undici } from '../core/on-first-use.js';
import type { EmailMessage, SlackMessage } from '../domain/budget/index.js';
import type { NewEvent } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { retry, retryAfterFromHeaders, validateRetryPolicy, type RetryPolicy } from '../domain/reliability/index.js';

// Delivery of alerts to the configured channels (Slack-compatible webhook, SMTP e-mail). An
// alert must never hold up or break the LLM call that crossed the threshold, so `send` only
// starts the work and every failure ends as a log line and an `onResult` report.
import {
  Aborted,
  DEFAULT_ALERT_RETRY,
  DEFAULT_ALERT_TIMEOUTS,
  HttpStatusError,
  parseChannelUrl,
  readSome,
  safeDecode,
  transientSmtpError,
  type AlertChannel,
  type AlertDispatcherOptions,
  type AlertMessage,
  type AlertResult,
  type AlertTimeouts,
} from './channels.js';

/** One channel's outcome, before it is told about the alert it belongs to. */
type Delivery = Pick<AlertResult, 'channel' | 'ok' | 'attempts' | 'error'>;

/**
 * Every alert leaves through one dispatcher, built once by the runtime from `alerts:`: budget
 * thresholds (the gateway's meter) and PII findings (PiiProtection) go to the same channels,
 * each to those it has a form for.
 */
export class AlertDispatcher {
  readonly channels: readonly AlertChannel[];
  private readonly logger: Logger;
  private readonly onResult: ((result: AlertResult) => void) | undefined;
  private readonly logResults: boolean;
  private readonly policy: RetryPolicy;
  private readonly timeouts: AlertTimeouts;
  private readonly sleepFn: ((ms: number) => Promise<void>) | undefined;
  private readonly webhook: { url: string; shown: string; agent: Undici.Agent } | null = null;
  private readonly mail: { options: SMTPTransport.Options; transport: Promise<Transporter<SMTPTransport.SentMessageInfo>> | null; to: string; from: string; shown: string } | null = null;
  /** Substrings that must not leave this class: webhook path and query, SMTP password. */
  private readonly secrets: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private closed = false;

  constructor(options: AlertDispatcherOptions) {
    this.logger = options.logger;
    this.onResult = options.onResult;
    this.logResults = options.logResults ?? true;
    this.policy = validateRetryPolicy({ ...DEFAULT_ALERT_RETRY, ...options.retry }, 'alerts.retry');
    this.timeouts = { ...DEFAULT_ALERT_TIMEOUTS, ...options.timeouts };
    this.sleepFn = options.sleep;
    const channels: AlertChannel[] = [];

    if (options.webhookUrl) {
      const url = parseChannelUrl(options.webhookUrl, ['http:', 'https:'], 'alerts.webhook_url');
      // Slack's incoming-webhook URL is its own credential: the path is the secret.
      this.secrets.push(options.webhookUrl, `${url.pathname}${url.search}`, url.password);
      this.webhook = { url: options.webhookUrl, shown: `${url.protocol}//${url.host}/…`, agent: new (undici().Agent)() };
      channels.push('webhook');
    }

    if (options.email) {
      const url = parseChannelUrl(options.email.smtpUrl, ['smtp:', 'smtps:'], 'alerts.email.smtp_url');
      this.secrets.push(options.email.smtpUrl, url.password, safeDecode(url.password));
      const t = this.timeouts.smtpMs;
      const transportOptions: SMTPTransport.Options = {
        url: options.email.smtpUrl,
        connectionTimeout: t,
        greetingTimeout: t,
        socketTimeout: t,
        dnsTimeout: t,
      };
      this.mail = {
        // Made (and nodemailer loaded) by the first e-mail: most runs never send one.
        options: transportOptions,
        transport: null,
        to: options.email.to,
        from: options.email.from,
        shown: `${url.protocol}//${url.host}`,
      };
      channels.push('email');
    }
    // Very short strings would mask innocent text; nobody configures a two-letter secret.
    this.secrets = this.secrets.filter((s) => s.length >= 3 && s !== '/');
    this.channels = channels;
  }

  /** Starts delivery on every configured channel and returns at once; never throws. */
  send(message: AlertMessage): void {
    try {
      for (const channel of this.channels) {
        if (this.closed) {
          this.finish(message, { channel, ok: false, attempts: 0, error: 'dispatcher closed' });
          continue;
        }
        if (channel === 'email' && !message.email) continue;
        // Deferred so that even building the request happens off the caller's (hot) path.
        const task = Promise.resolve().then(() => this.deliver(channel, message));
        this.inFlight.add(task);
        void task.finally(() => this.inFlight.delete(task));
      }
    } catch (error) {
      this.logger.warn({ alertId: message.id, err: this.errorText(error) }, 'Alert dispatch failed');
    }
  }

  /** Waits (bounded) for deliveries under way, then abandons the rest and releases connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.timeouts.closeMs);
      });
      await Promise.race([Promise.allSettled([...this.inFlight]), bound]);
      clearTimeout(timer);
    }
    this.abort.abort();
    void this.mail?.transport?.then((t) => t.close());
    // destroy() rather than close(): close() would wait for a hung receiver we just gave up on.
    await this.webhook?.agent.destroy().catch(() => undefined);
  }

  private async deliver(channel: AlertChannel, message: AlertMessage): Promise<void> {
    let result: Delivery;
    try {
      const settled =
        channel === 'webhook'
          ? await this.attempt(
              () => this.postWebhook(message.slack),
              (e) => !(e instanceof HttpStatusError) || e.retryable,
            )
          : await this.attempt(() => this.sendEmail(message.email!), transientSmtpError);
      if (settled.ok) {
        result = { channel, ok: true, attempts: settled.attempts };
      } else {
        // A retry skipped at close() was never made; report the failure that called for it.
        const e = settled.error;
        const skipped = e instanceof Aborted && e.beforeAttempt;
        const error = skipped && e.previous !== undefined ? `${this.errorText(e.previous)}; ${e.message}` : this.errorText(e);
        result = { channel, ok: false, attempts: settled.attempts - (skipped ? 1 : 0), error };
      }
    } catch (error) {
      result = { channel, ok: false, attempts: 0, error: this.errorText(error) };
    }
    this.finish(message, result);
  }

  private attempt(fn: () => Promise<void>, transient: (error: unknown) => boolean) {
    const signal = this.abort.signal;
    let last: unknown;
    return retry(
      async () => {
        if (signal.aborted) throw new Aborted(last, true);
        try {
          await fn();
        } catch (error) {
          last = error;
          throw error;
        }
      },
      {
        ...this.policy,
        retryable: (s) => !s.ok && !signal.aborted && !(s.error instanceof Aborted) && transient(s.error),
        retryAfterMs: (s) => (!s.ok && s.error instanceof HttpStatusError ? s.error.retryAfterMs : null),
        sleep: (ms) => this.sleep(ms),
      },
    );
  }

  /** A wait that ends early when the dispatcher gives up, so close() is not held by a backoff. */
  private sleep(ms: number): Promise<void> {
    const signal = this.abort.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      if (this.sleepFn) this.sleepFn(ms).then(done, done);
      else timer = setTimeout(done, ms);
    });
  }

  private async postWebhook(payload: SlackMessage): Promise<void> {
    const hook = this.webhook!;
    const res = await undici().request(hook.url, {
      method: 'POST',
      dispatcher: hook.agent,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ text: payload.text, blocks: payload.blocks }),
      signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timeouts.webhookMs)]),
    });
    if (res.statusCode >= 200 && res.statusCode < 300) {
      await res.body.dump();
      return;
    }
    const body = await readSome(res.body).catch(() => '');
    throw new HttpStatusError(res.statusCode, retryAfterFromHeaders(res.headers, Date.now()), body);
  }

  private async sendEmail(email: EmailMessage): Promise<void> {
    const mail = this.mail!;
    mail.transport ??= import('nodemailer').then((m) => m.default.createTransport(mail.options));
    await (await mail.transport).sendMail({ from: mail.from, to: mail.to, subject: email.subject, text: email.text });
  }

  private errorText(error: unknown): string {
    if (error instanceof Error) {
      if (error.name === 'TimeoutError') return `timed out after ${this.timeouts.webhookMs} ms`;
      if (error.name === 'AbortError' || error instanceof Aborted) return new Aborted().message;
      const cause = (error as { cause?: unknown }).cause;
      const detail = cause instanceof Error && !error.message.includes(cause.message) ? ` (${cause.message})` : '';
      return this.scrub(`${error.message}${detail}`);
    }
    return this.scrub(String(error));
  }

  private scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('***');
    return out;
  }

  private finish(message: AlertMessage, delivery: Delivery): void {
    const shownTo = delivery.channel === 'email' ? this.mail?.to : this.webhook?.shown;
    const result: AlertResult = { ...delivery, alertId: message.id, kind: message.kind, agentId: message.agentId, ...(shownTo ? { target: shownTo } : {}) };
    const target = result.channel === 'webhook' ? this.webhook?.shown : this.mail?.shown;
    const fields = { agentId: message.agentId, alertId: message.id, channel: result.channel, target, attempts: result.attempts };
    // Without logResults the result's own record (onResult) is the line.
    if (this.logResults && result.ok) {
      const how = result.channel === 'email' ? `e-mailed to ${this.mail?.to}` : `posted to webhook ${target}`;
      this.logger.info(fields, `Alert ${how}`);
    } else if (this.logResults) {
      const via = result.channel === 'email' ? `e-mail to ${this.mail?.to}` : `webhook ${target}`;
      this.logger.warn({ ...fields, reason: result.error }, `Alert delivery by ${via} failed after ${result.attempts} attempt(s): ${result.error}`);
    }
    try {
      this.onResult?.(result);
    } catch (error) {
      this.logger.warn({ alertId: message.id, err: this.errorText(error) }, 'Alert result listener threw');
    }
  }
}

const LABEL: Record<AlertResult['kind'], string> = { budget: 'Budget', pii: 'PII', watch: 'Watch', approval: 'Approval' };

/**
 * The event a delivery is recorded as (the dashboard shows it; the demo waits for its e-mail).
 * @example state.record(deliveryEvent(result)) // 'Budget alert e-mailed to ops@company.com'
 */
export function deliveryEvent(r: AlertResult): NewEvent<'alert.delivery'> {
  return {
    agentId: r.agentId,
    type: 'alert.delivery',
    severity: r.ok ? 'info' : 'warn',
    message: r.ok
      ? `${LABEL[r.kind]} alert ${r.channel === 'email' ? `e-mailed${r.target ? ` to ${r.target}` : ''}` : `posted to webhook${r.target ? ` ${r.target}` : ''}`}`
      : `${LABEL[r.kind]} alert ${r.channel === 'email' ? `e-mail${r.target ? ` to ${r.target}` : ''}` : `webhook${r.target ? ` ${r.target}` : ''}`} failed after ${r.attempts} attempt(s): ${r.error ?? 'unknown error'}`,
    data: { channel: r.channel, ok: r.ok, attempts: r.attempts, error: r.error ?? null, alertId: r.alertId },
  };
}
