// Alert delivery (Slack-compatible webhook, SMTP e-mail) for budget thresholds and PII
// findings. I/O, so not a domain folder; the runtime builds the one dispatcher from `alerts:`
// and hands it to the budget service (budget alerts) and PII protection (findings).
export { AlertDispatcher, deliveryEvent } from './dispatcher.js';
export {
  budgetAlertMessage,
  runwayAlertMessage,
  DEFAULT_ALERT_RETRY,
  DEFAULT_ALERT_TIMEOUTS,
  type AlertChannel,
  type AlertKind,
  type AlertDispatcherOptions,
  type AlertMessage,
  type AlertResult,
  type AlertTimeouts,
  type EmailChannelConfig,
} from './channels.js';
