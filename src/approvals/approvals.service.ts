import { namedDomains } from '../domain/policy/index.js';
import type { Platform, Service } from '../server/index.js';
import { ApprovalsStore, ToolsStore } from '../state/index.js';
import { approvalsRoutes } from './approvals.routes.js';
import { ApprovalDesk } from './desk.js';
import { PolicyGate } from './gate.js';
import type { ApprovalAlert } from './messages.js';

/** How long a held call's refusal is given to reach its caller at shutdown (its row is written first: one group commit). */
const ANSWER_MS = 250;

export type ApprovalsDeps = Pick<Platform, 'config' | 'state' | 'logger' | 'url'> & {
  /** The runtime's one alert dispatcher. */
  alerts: { send(message: ApprovalAlert): void };
  /** PII out of a text before the rules read it or a person sees it; addresses at `allowDomains` kept. */
  scrub: (text: string, allowDomains: readonly string[]) => string;
};

/**
 * Tool policies and human approval as a feature: the gate the tool proxy and MCP put each call
 * to (`policies:`), the desk where held calls wait for a person, and their routes. What a
 * previous run left waiting is closed (and said) at start: its caller went with that run.
 */
export function approvalsService(d: ApprovalsDeps): { service: Service; gate: PolicyGate; desk: ApprovalDesk } {
  const desk = new ApprovalDesk({ state: d.state, store: new ApprovalsStore(d.state), logger: d.logger, alerts: d.alerts, url: d.url });
  const closed = desk.closeLeftovers();
  // An address at a domain a rule names stays readable (or that rule could never hold); every other is redacted.
  const domains = namedDomains(d.config.policies.rules);
  const redact = (text: string): string => d.scrub(text, domains);
  const gate = new PolicyGate({ set: d.config.policies, desk, state: d.state, redact });
  const { rules } = d.config.policies;
  return {
    gate,
    desk,
    service: {
      name: 'approvals',
      apiRoutes: [approvalsRoutes({ desk, gate, state: d.state, tools: new ToolsStore(d.state), redact })],
      announce: () => {
        if (gate.active) {
          const approve = rules.filter((r) => r.action === 'approve').length;
          d.logger.info(`Tool policies: ${rules.length} rule${rules.length === 1 ? '' : 's'}${approve > 0 ? ` (${approve} asking for approval)` : ''}, default ${d.config.policies.default}`);
        }
        if (closed > 0) d.logger.warn(`${closed} approval${closed === 1 ? '' : 's'} left waiting by the last run closed as expired (its calls were not sent)`);
      },
      // The calls still waiting are told (expired: iron-cage stopped), and given a moment to get that answer before the connections close.
      stopping: async () => {
        if (desk.close() > 0) await new Promise((r) => setTimeout(r, ANSWER_MS));
      },
      close: () => void desk.close(),
    },
  };
}
