import { namedDomains } from '../domain/policy/index.js';
import type { Config } from '../config/index.js';
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
  const gate = new PolicyGate({ set: d.config.policies, desk, state: d.state, redact, injectionSeen: (agentId) => d.state.eventCountOf(agentId, 'injection.detected') > 0 });
  const { rules } = d.config.policies;
  return {
    gate,
    desk,
    service: {
      name: 'approvals',
      apiRoutes: [approvalsRoutes({ desk, gate, state: d.state, tools: ToolsStore.of(d.state), redact, known: (service, mcp) => service in (mcp ? d.config.mcp : d.config.tools) })],
      announce: () => {
        if (gate.active) {
          const approve = rules.filter((r) => r.action === 'approve').length;
          const answers = rules.filter((r) => r.llmTool !== null).length;
          const said = [approve > 0 ? `${approve} asking for approval` : '', answers > 0 ? `${answers} on the tool calls in models' answers` : ''].filter(Boolean).join(', ');
          d.logger.info(`Tool policies: ${rules.length} rule${rules.length === 1 ? '' : 's'}${said ? ` (${said})` : ''}, default ${d.config.policies.default}`);
        }
        for (const line of unknownNames(d.config)) d.logger.warn(line);
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

/**
 * Rules that name a tool service or an MCP server the config does not have: a typo there makes a
 * rule that never matches, so it is said at start (a glob's service part, when it has no wildcard).
 * @example unknownNames(config) // ["policies[1] (match.tool) names 'emial', which is no tool service or MCP server (configured: crm, email)"]
 */
export function unknownNames(config: Pick<Config, 'policies' | 'tools' | 'mcp'>): string[] {
  const services = new Set(Object.keys(config.tools).map((n) => n.toLowerCase()));
  const servers = new Set(Object.keys(config.mcp).map((n) => n.toLowerCase()));
  const out: string[] = [];
  const configured = [...new Set([...services, ...servers])].join(', ') || 'none';
  for (const r of config.policies.rules) {
    const check = (key: 'tool' | 'mcp' | 'mcp_resource' | 'mcp_prompt', globs: readonly string[] | null, known: Set<string>) => {
      const sep = key === 'mcp_resource' ? ':' : '.';
      for (const g of globs ?? []) {
        const name = g.split(sep, 1)[0]!;
        if (!g.includes(sep) || /[*?]/.test(name) || known.has(name.toLowerCase())) continue;
        out.push(
          `${r.label} (match.${key}) names '${name}', which is no ${key === 'tool' ? 'tool service or MCP server' : 'MCP server'} of this config (configured: ${configured}): the rule matches nothing there`,
        );
      }
    };
    // In a rule that names mcp, tool is the MCP tool's own name: only mcp names a server.
    if (r.mcp === null) check('tool', r.source.tool, new Set([...services, ...servers]));
    check('mcp', r.source.mcp, servers);
    check('mcp_resource', r.source.mcpResource, servers);
    check('mcp_prompt', r.source.mcpPrompt, servers);
  }
  return out;
}
