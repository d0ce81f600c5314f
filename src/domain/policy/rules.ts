import type { Approvers } from '../../core/events.js';
import { fold, meets, type ArgCondition } from './conditions.js';

// The one rule language for what passes the cage (`policies:` in the config): every tool-proxy
// call, every MCP tools/call and every tool call in a model's answer is read as a `PolicyCall`
// and the first rule that matches it decides (allow, deny, or wait for a person's approval), else
// the default does (a tool call in a model's answer only by a rule naming `llm_tool`: the default
// is not its). Pure: the caller brings the call (its arguments as the redacted view the approver
// sees, or why they could not be read) and acts on the decision.
//
// A rule whose argument conditions cannot be read is not a rule that passes: it fails closed.
// A deny or approve rule whose names match applies as if its conditions held (the person asked
// is told why); an allow rule grants nothing it could not read (evaluation goes on to the next
// rule, then the default), though its rate still counts the call.

export type PolicyAction = 'allow' | 'deny' | 'approve';

/** Who may decide an approval (core/events.ts: an approval's request carries them). */
export type { Approvers };

export interface PolicyRule {
  /** Its place in `policies` (0-based), and how it is named in events, errors and metrics: its `name`, else `policies[i]`. */
  index: number;
  label: string;
  /** Glob patterns, each list any-of; null: any. */
  agent: RegExp[] | null;
  /** Against the call's qualified name (`service.path`, `server.tool`), or in a rule that names `mcp`, the MCP tool's own name. */
  tool: RegExp[] | null;
  /** Against an MCP call's `server.tool`; a rule that names it matches MCP tool calls only. */
  mcp: RegExp[] | null;
  /** `match.mcp_resource`: against `server:uri` of an MCP resources/read (or a completion of a resource template's argument); a rule that names it matches those only. */
  mcpResource: RegExp[] | null;
  /** `match.mcp_prompt`: against `server.prompt` of an MCP prompts/get (or a completion of the prompt's argument); a rule that names it matches those only. */
  mcpPrompt: RegExp[] | null;
  /** HTTP methods; a rule that names them matches HTTP tool calls only. */
  method: string[] | null;
  /**
   * `match.llm_tool`: against the name of a tool call in a model's answer (`Bash`, `shell`), which
   * the agent runs itself. A rule that names it matches those calls only, and only such a rule does.
   */
  llmTool: RegExp[] | null;
  /** `match.after_injection`: the rule matches only once a prompt injection was seen in what the agent read (an `injection.detected` event of its own). */
  afterInjection: boolean;
  args: ArgCondition[];
  action: PolicyAction;
  /** At most `count` calls per agent in `perMs`, then 429; null: no limit. */
  rate: { count: number; perMs: number; text: string } | null;
  /** approve: how long a call waits for a decision, then it is denied (said so). */
  timeoutMs: number;
  approvers: Approvers;
  /** Said to the agent on a denial and to the approver on a request. */
  reason: string | null;
  /** The globs as written (for what is said about the rule at start). */
  source: { tool: string[] | null; mcp: string[] | null; mcpResource: string[] | null; mcpPrompt: string[] | null; llmTool: string[] | null };
}

export interface PolicySet {
  rules: PolicyRule[];
  /** What a call no rule matches gets. */
  default: 'allow' | 'deny';
}

/**
 * The e-mail domains the rules' argument conditions name (`endswith: "@acme.example"`): an
 * address there stays readable in the view the rules read, or a rule about a domain could never
 * hold (every address would read as a redaction). Every other address is redacted.
 */
export function namedDomains(rules: readonly PolicyRule[]): string[] {
  const out = new Set<string>();
  for (const r of rules)
    for (const c of r.args)
      for (const t of c.tests) {
        const values = typeof t.value === 'string' ? [t.value] : Array.isArray(t.value) ? t.value : [];
        for (const v of values) {
          const m = /@([a-z0-9.-]+\.[a-z]{2,})$/.exec(v);
          if (m) out.add(m[1]!);
        }
      }
  return [...out];
}

/** A tool call as the rules read it. */
export interface PolicyCall {
  /** `llm`: a tool call in a model's answer, which the agent would run itself. */
  kind: 'http' | 'mcp' | 'llm';
  agentId: string;
  agentName: string;
  /** The tool service or MCP server; for `llm`, the model whose answer holds the call. */
  service: string;
  /**
   * HTTP: the path under the service (decoded, no leading or trailing '/', no query); MCP and
   * `llm`: the tool's name; an MCP resource's URI or prompt's name (`mcpTarget`).
   */
  tool: string;
  /** HTTP: its method. MCP: null for a tools/call, else the request's method (`resources/read`, `prompts/get`, `completion/complete`). */
  method: string | null;
  /**
   * MCP, what a request that is no tools/call acts on: a resource (`tool` its URI: a resources/read,
   * a completion of a resource template's argument) or a prompt (`tool` its name: a prompts/get, a
   * completion of its argument). Only the rules that name `mcp_resource` or `mcp_prompt`, and those
   * that name no tool, server or method at all, match it: it is never taken for a tool.
   */
  mcpTarget?: 'resource' | 'prompt';
  /** A prompt injection was seen in what this agent read (asked only when a rule has `after_injection`). */
  injectionSeen?: boolean;
}

/** `service.tool`: what `match.tool` reads (`crm.contacts/42`, `github.create_pull_request`). */
export const qualified = (c: Pick<PolicyCall, 'service' | 'tool'>): string => `${c.service}.${c.tool}`;

/**
 * The call as a person reads it, in an approval, an error, the dashboard and the timeline.
 * @example callLabel({ kind: 'http', service: 'crm', tool: 'contacts', method: 'POST' }) // 'crm POST /contacts'
 * @example callLabel({ kind: 'mcp', service: 'github', tool: 'create_pull_request', method: null }) // 'MCP github.create_pull_request'
 * @example callLabel({ kind: 'mcp', service: 'docs', tool: 'file:///notes.md', method: 'resources/read' }) // 'MCP docs resources/read file:///notes.md'
 * @example callLabel({ kind: 'llm', service: 'gpt-4o', tool: 'shell', method: null }) // 'tool call shell in an answer of gpt-4o'
 */
export const callLabel = (c: { kind: string; service: string; tool: string; method: string | null }): string =>
  c.kind === 'mcp'
    ? c.method === null
      ? `MCP ${c.service}.${c.tool}`
      : `MCP ${c.service} ${c.method} ${c.tool}`
    : c.kind === 'llm'
      ? `tool call ${c.tool} in an answer of ${c.service}`
      : `${c.service} ${c.method ?? ''} /${c.tool}`.replace('  ', ' ');

const anyOf = (res: RegExp[] | null, ...texts: string[]): boolean => res === null || res.some((re) => texts.some((t) => re.test(t)));

/** Whether a rule's names (agent, tool, server, method) take in the call; its argument conditions aside. */
export function namesMatch(r: PolicyRule, c: PolicyCall): boolean {
  if (r.afterInjection && c.injectionSeen !== true) return false;
  // A tool call in a model's answer is read by the rules that name llm_tool, and by no other.
  if ((r.llmTool !== null) !== (c.kind === 'llm')) return false;
  if (r.llmTool !== null) return anyOf(r.agent, c.agentName, c.agentId) && anyOf(r.llmTool, c.tool);
  // An MCP resource or prompt is read by the rules that name it, and by those that name no tool, server or method.
  const target = c.kind === 'mcp' ? (c.mcpTarget ?? null) : null;
  if (r.mcpResource !== null || r.mcpPrompt !== null) {
    if (target === null || !anyOf(r.agent, c.agentName, c.agentId)) return false;
    return target === 'resource' ? r.mcpResource !== null && anyOf(r.mcpResource, `${c.service}:${c.tool}`) : r.mcpPrompt !== null && anyOf(r.mcpPrompt, qualified(c));
  }
  if (target !== null && (r.tool !== null || r.mcp !== null || r.method !== null)) return false;
  if (r.mcp !== null && c.kind !== 'mcp') return false;
  if (r.method !== null && (c.kind !== 'http' || c.method === null || !r.method.includes(c.method.toUpperCase()))) return false;
  if (!anyOf(r.agent, c.agentName, c.agentId)) return false;
  if (!anyOf(r.mcp, qualified(c))) return false;
  return anyOf(r.tool, r.mcp !== null ? c.tool : qualified(c));
}

/**
 * Whether a rule whose names take in this tool call of a model's answer (`llm_tool`) could decide
 * it: only such a call is held back from the agent until its arguments are whole and decided.
 */
export const llmToolWatched = (rules: readonly PolicyRule[], c: PolicyCall): boolean => rules.some((r) => r.llmTool !== null && namesMatch(r, c));

/**
 * A call's arguments as the rules read them: their value (JSON), or why they could not be read
 * (a body whose compression, charset or syntax the cage cannot undo, as its upstream could).
 */
export type CallArgs = { readable: true; value: unknown } | { readable: false; why: string };

/** What decides a call: a rule, or the default (`rule: null`). */
export interface Match {
  rule: PolicyRule | null;
  /** Over the deciding rule's rate: how long until the call would be within it (ms). Null: within it, or it has none. */
  overRateMs: number | null;
  /**
   * Why arguments a rule tests could not be read: the deciding rule's (it applies as deny or
   * approve though its conditions could not be checked), or, when the default decides, that of
   * the first allow rule passed over for it. Null when every rule that needed them read them.
   */
  unreadable: string | null;
}

/**
 * Whether some rule whose names take in the call tests its arguments: only then must they be
 * read before the rules are walked (reading a body costs nothing for a call no such rule concerns).
 */
export function needsArgs(rules: readonly PolicyRule[], c: PolicyCall): boolean {
  return rules.some((r) => r.args.length > 0 && namesMatch(r, c));
}

/**
 * The rule that decides the call, walked in order; `rule: null` when none does (the default
 * applies). `args` is asked for only when a rule whose names match has argument conditions.
 * `takeRate` counts the call against a rule's rate (`RateWindows.take`) and answers how long
 * until it would be within it, or null; it is asked only of a rule that would decide, and of an
 * allow rule passed over for arguments it could not read (its rate holds whatever they say).
 *
 * @example firstMatch(set.rules, call, () => ({ readable: true, value: { to: 'a@b.c' } })) // { rule: <outside-mail>, overRateMs: null, unreadable: null }
 */
export function firstMatch(rules: readonly PolicyRule[], c: PolicyCall, args: () => CallArgs, takeRate: (r: PolicyRule) => number | null = () => null): Match {
  let read: CallArgs | null = null;
  let passedOver: string | null = null;
  for (const r of rules) {
    if (!namesMatch(r, c)) continue;
    let unreadable: string | null = null;
    if (r.args.length > 0) {
      const a = (read ??= args());
      if (!a.readable) unreadable = a.why;
      else if (!r.args.every((cond) => meets(a.value, cond))) continue;
    }
    const overRateMs = r.rate === null ? null : takeRate(r);
    if (overRateMs !== null) return { rule: r, overRateMs, unreadable };
    if (unreadable !== null && r.action === 'allow') {
      passedOver ??= unreadable;
      continue;
    }
    return { rule: r, overRateMs: null, unreadable };
  }
  return { rule: null, overRateMs: null, unreadable: passedOver };
}

/** Whether a person may decide an approval under a rule: an admin by role, or a user the rule names. */
export function mayApprove(a: Approvers, who: { role: string; user: string | null }): boolean {
  if (a.roles.includes(who.role as 'admin')) return true;
  return who.user !== null && a.users.some((u) => fold(u) === fold(who.user!));
}

/** Approvers as a rule's `approvers:` would write them, for messages: `admin, user:alice`. */
export const approversText = (a: Approvers): string => [...a.roles.map((r) => (r === 'admin' ? 'admins' : r)), ...a.users.map((u) => `user ${u}`)].join(', ') || 'nobody';
