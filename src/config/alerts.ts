import * as z from 'zod';
import { ConfigError } from '../core/errors.js';
import { httpUrl } from '../core/validation.js';
import { layer, type Keys } from './layer.js';

// The `alerts:` section: where every alert goes, budget thresholds and PII findings alike, through
// the one dispatcher the runtime builds. `safety.webhook_url`, the PII findings' own webhook
// before there was one section, is still read, with a warning at start.

const section = z.strictObject({
  webhook_url: httpUrl.optional(),
  email: z
    .strictObject({
      to: z.string().email('must be an e-mail address'),
      from: z.string().email('must be an e-mail address').optional(),
      smtp_url: z.string().regex(/^smtps?:\/\/[^\s]+$/, 'must be an smtp:// or smtps:// URL'),
    })
    .optional(),
});

export const alertsFileSchema = { alerts: section.optional() };

export interface AlertsConfig {
  /** A Slack-compatible incoming webhook: budget alerts and PII findings. */
  webhookUrl: string | null;
  /** Budget alerts by e-mail (not PII findings: one message per finding would bury them). */
  email: { to: string; from: string; smtpUrl: string } | null;
}

export const ALERTS_DEFAULTS: AlertsConfig = { webhookUrl: null, email: null };

/** What the alert keys are read from: the section, and the deprecated key in `safety:`. */
type AlertsLayer = { alerts?: z.output<typeof section>; safety?: { webhook_url?: string } };

const ALERTS_KEYS: Keys<AlertsConfig, z.output<typeof section>> = {
  webhookUrl: 'webhook_url',
  email: (a) => a.email && { to: a.email.to, from: a.email.from ?? 'iron-cage@localhost', smtpUrl: a.email.smtp_url },
};

/**
 * Lay one parsed source's alert keys over `cur`. `safety.webhook_url` stands for
 * `alerts.webhook_url`; both naming different webhooks is refused rather than merged: there is
 * one webhook for every alert, so choosing either would silently drop alerts someone expects at
 * the other, and posting to both would send every alert twice.
 */
export function applyAlerts(cur: AlertsConfig, l: AlertsLayer): AlertsConfig {
  const legacy = l.safety?.webhook_url;
  const current = l.alerts?.webhook_url;
  if (legacy !== undefined && current !== undefined && legacy !== current) {
    throw new ConfigError(
      `safety.webhook_url and alerts.webhook_url name different webhooks; budget alerts and PII findings now share alerts.webhook_url: keep that one and remove safety.webhook_url`,
    );
  }
  const section = legacy === undefined ? l.alerts : { ...l.alerts, webhook_url: current ?? legacy };
  return layer(cur, section, ALERTS_KEYS);
}

/**
 * What a config file should change, each naming its replacement: said once when the runtime
 * starts, since the file still works as it is.
 * @example deprecations({ safety: { webhook_url: 'https://hooks.example.com/x' } })
 *   // ['safety.webhook_url is deprecated: use alerts.webhook_url, which budget alerts and PII findings share']
 */
export function deprecations(l: AlertsLayer): string[] {
  return l.safety?.webhook_url === undefined ? [] : ['safety.webhook_url is deprecated: use alerts.webhook_url, which budget alerts and PII findings share'];
}
