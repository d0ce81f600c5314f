// Alert delivery (Slack-compatible webhook, SMTP e-mail) for budget thresholds and PII
// events. I/O, so not a domain folder; the gateway and PII protection are handed a dispatcher
// by the runtime.
export { AlertDispatcher } from './dispatcher.js';
export {
  budgetAlertMessage,
  DEFAULT_ALERT_RETRY,
  DEFAULT_ALERT_TIMEOUTS,
  type AlertChannel,
  type AlertDispatcherOptions,
  type AlertMessage,
  type AlertResult,
  type AlertTimeouts,
  type EmailChannelConfig,
} from './channels.js';
