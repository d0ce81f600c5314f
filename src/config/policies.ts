import * as z from 'zod';
import { DAY_MS, HOUR_MS, MINUTE_MS, parseDuration } from '../core/duration.js';
import { fold, LIST_OPS, NUMBER_OPS, TEXT_OPS, type ArgCondition, type ArgTest, type PolicyRule, type PolicySet } from '../domain/policy/index.js';

// `policies:` — what may pass the cage (src/approvals), one rule language for HTTP tools, MCP
// tools, MCP resources and prompts (`match.mcp_resource`, `match.mcp_prompt`) and the tool calls in a model's answer (`match.llm_tool`). Either a list of rules (the default for a call no rule matches: allow) or
// `{ default: allow|deny, timeout: 10m, rules: [...] }`. Every mistake is reported at load time
// with its key path (`policies[2].match.args.to.not_endswith`); docs/tools.md shows examples.

export const POLICY_DEFAULTS = {
  /** How long a call waits for a person when neither its rule nor `policies.timeout` says. */
  timeoutMs: 10 * 60_000,
} as const;

/** The HTTP methods the tool proxy passes on, and so the ones a rule may name: a call by any other is refused (405), never let past a rule that could not name it. */
export const PROXIED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const METHODS = PROXIED_METHODS;
const RATE_UNITS: Record<string, number> = {
  s: 1_000,
  sec: 1_000,
  second: 1_000,
  m: MINUTE_MS,
  min: MINUTE_MS,
  minute: MINUTE_MS,
  h: HOUR_MS,
  hr: HOUR_MS,
  hour: HOUR_MS,
  d: DAY_MS,
  day: DAY_MS,
};
const MAX_WAIT_MS = DAY_MS;

/** A glob (`*` any run of characters, `?` one) as a whole-name pattern, case and Unicode form aside. */
export function globPattern(glob: string): RegExp {
  const body = fold(glob)
    .replace(/[.+^${}()|[\]\\/]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  // Names are folded before they are tested (`namesMatch` folds nothing: the `i` and `u` flags and NFKC here do).
  return new RegExp(`^${body}$`, 'iu');
}

const glob = z
  .string()
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .regex(/^[^\s\u0000-\u001f]+$/, 'must be a name or a glob of one (no spaces or control characters)');
/** One glob or a list of them. */
const globs = z.union([glob, z.array(glob).min(1, 'must list at least one name')]).transform((g) => (Array.isArray(g) ? g : [g]));

/** Globs of `<server><sep><name>`: what is before `sep` names the server. */
const globsOf = (sep: string, message: string) =>
  z
    .union([glob.refine((g) => g.indexOf(sep) > 0, message), z.array(glob.refine((g) => g.indexOf(sep) > 0, message)).min(1, 'must list at least one name')])
    .transform((g) => (Array.isArray(g) ? g : [g]));

const method = z
  .string()
  .transform((m) => m.toUpperCase())
  .pipe(z.enum(METHODS, { error: `must be one of ${METHODS.join(', ')}` }));

const scalar = z.union([z.string().max(1000, 'must be at most 1000 characters'), z.number(), z.boolean(), z.null()]);
const textOf = (v: string | number | boolean | null): string => (typeof v === 'string' ? fold(v) : String(v));

const regex = z
  .string()
  .max(500, 'must be at most 500 characters')
  .transform((src, ctx) => {
    try {
      return new RegExp(src.normalize('NFKC'), 'iu');
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `is not a valid regular expression (${(e as Error).message})` });
      return z.NEVER;
    }
  });

/** A field's tests: a scalar (equals), or an object of operators that must all hold. */
const operators = z
  .strictObject({
    ...Object.fromEntries(TEXT_OPS.filter((op) => op !== 'matches' && op !== 'not_matches').map((op) => [op, scalar.optional()])),
    matches: regex.optional(),
    not_matches: regex.optional(),
    ...Object.fromEntries(LIST_OPS.map((op) => [op, z.array(scalar).min(1, 'must list at least one value').max(1000, 'must list at most 1000 values').optional()])),
    ...Object.fromEntries(NUMBER_OPS.map((op) => [op, z.number({ error: 'must be a number' }).optional()])),
    exists: z.boolean().optional(),
  })
  .transform((o, ctx): ArgTest[] => {
    const tests: ArgTest[] = [];
    for (const [op, value] of Object.entries(o) as Array<[string, unknown]>) {
      if (value === undefined) continue;
      if (op === 'matches' || op === 'not_matches') tests.push({ op, value: value as RegExp });
      else if ((LIST_OPS as readonly string[]).includes(op)) tests.push({ op: op as 'in', value: (value as Array<string | number | boolean | null>).map(textOf) });
      else if ((NUMBER_OPS as readonly string[]).includes(op)) tests.push({ op: op as 'gt', value: value as number });
      else if (op === 'exists') tests.push({ op, value: value as boolean });
      else tests.push({ op: op as 'equals', value: textOf(value as string) });
    }
    if (tests.length === 0) {
      ctx.addIssue({ code: 'custom', message: `needs an operator: ${[...TEXT_OPS, ...LIST_OPS, ...NUMBER_OPS, 'exists'].join(', ')}` });
      return z.NEVER;
    }
    return tests;
  });
const equals = scalar.transform((v): ArgTest[] => [{ op: 'equals', value: textOf(v) }]);
/** Chosen by what was written, so an error names the operator (a union would only say "Invalid input"). */
const condition = z.unknown().transform((v, ctx): ArgTest[] => {
  const r = v !== null && typeof v === 'object' && !Array.isArray(v) ? operators.safeParse(v) : equals.safeParse(v);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue(issue as never);
    return z.NEVER;
  }
  return r.data;
});

const FIELD = /^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*$/;
const args = z.record(z.string().regex(FIELD, 'must be a field of the arguments, dotted for a nested one (recipient.email)'), condition);

const rate = z.string().transform((raw, ctx) => {
  const m = /^\s*(\d+)\s*\/\s*(\d*)\s*([a-z]+)\s*$/i.exec(raw);
  const unit = m ? RATE_UNITS[m[3]!.toLowerCase()] : undefined;
  const count = m ? Number(m[1]) : 0;
  const times = m && m[2] !== '' ? Number(m[2]) : 1;
  if (!m || unit === undefined || count < 1 || times < 1) {
    ctx.addIssue({ code: 'custom', message: `"${raw}" is not a rate (write 30/min, 5/s, 100/h, 1000/day or 10/5min)` });
    return z.NEVER;
  }
  if (count > 1_000_000) {
    ctx.addIssue({ code: 'custom', message: 'must allow at most 1000000 calls per window' });
    return z.NEVER;
  }
  const perMs = unit * times;
  if (perMs > 7 * DAY_MS) {
    ctx.addIssue({ code: 'custom', message: 'its window must be at most 7 days' });
    return z.NEVER;
  }
  return { count, perMs, text: raw.replace(/\s+/g, '') };
});

/** A wait: `10m`, `30s`, `1h` (a bare number: seconds), from 1 s to a day. */
const wait = z.union([z.number(), z.string()]).transform((v, ctx): number => {
  const ms = typeof v === 'number' ? (Number.isFinite(v) && v >= 0 ? Math.round(v * 1000) : null) : /^\d+(\.\d+)?$/.test(v.trim()) ? Math.round(Number(v) * 1000) : parseDuration(v.trim());
  const why = ms === null ? `"${v}" is not a duration (write 30s, 10m, 1h, or a number of seconds)` : ms < 1000 ? 'must be at least 1s' : ms > MAX_WAIT_MS ? 'must be at most 24h' : null;
  if (why !== null) {
    ctx.addIssue({ code: 'custom', message: why });
    return z.NEVER;
  }
  return ms!;
});

const approver = z.string().regex(/^(role:)?admin$|^user:[^\s:]{1,100}$/, 'must be admin (or role:admin) or user:<name> (a named dashboard user); viewers and agents never approve');

const rule = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 letters, digits, _ . : -')
      .optional(),
    match: z
      .strictObject({
        agent: globs.optional(),
        tool: globs.optional(),
        mcp: globs.optional(),
        method: z.union([method, z.array(method).min(1, 'must list at least one method')]).optional(),
        mcp_resource: globsOf(':', 'must be <server>:<uri> or a glob of it (docs:file:///reports/*, web:fetch://*)').optional(),
        mcp_prompt: globsOf('.', 'must be <server>.<prompt> or a glob of it (docs.summarize, docs.*)').optional(),
        llm_tool: globs.optional(),
        args: args.optional(),
        after_injection: z.literal(true, { error: 'must be true (leave it out to match whether or not an injection was seen)' }).optional(),
      })
      .optional(),
    action: z.enum(['allow', 'deny', 'approve'], { error: 'must be allow, deny or approve' }).optional(),
    rate: rate.optional(),
    timeout: wait.optional(),
    approvers: z.array(approver).min(1, 'must name at least one approver').optional(),
    reason: z.string().min(1, 'must not be empty').max(500, 'must be at most 500 characters').optional(),
  })
  .superRefine((r, ctx) => {
    if (r.action === undefined && r.rate === undefined) ctx.addIssue({ code: 'custom', message: 'needs an action (allow, deny or approve) or a rate' });
    if (r.action !== 'approve') {
      for (const k of ['timeout', 'approvers'] as const) if (r[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'is for action: approve' });
    }
    if (r.action === 'deny' && r.rate !== undefined) ctx.addIssue({ code: 'custom', path: ['rate'], message: 'means nothing on a deny rule: every call it matches is refused' });
    if (r.match?.method !== undefined && r.match.mcp !== undefined)
      ctx.addIssue({ code: 'custom', path: ['match', 'method'], message: 'is for HTTP tool calls; this rule names mcp, so it would match nothing' });
    const mcpOther = r.match?.mcp_resource !== undefined ? 'mcp_resource' : r.match?.mcp_prompt !== undefined ? 'mcp_prompt' : null;
    if (mcpOther !== null) {
      // A resource read or a prompt is no tool call: a rule is about one kind of thing.
      for (const k of ['tool', 'mcp', 'method', 'llm_tool', ...(mcpOther === 'mcp_resource' ? (['mcp_prompt'] as const) : [])] as const)
        if (r.match?.[k] !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['match', k],
            message: `is for ${k === 'mcp_prompt' ? 'MCP prompts' : 'tool calls'}; this rule names ${mcpOther} (${mcpOther === 'mcp_resource' ? 'an MCP resource read' : 'an MCP prompt'}), so it would match nothing: write two rules`,
          });
    }
    if (r.match?.llm_tool !== undefined) {
      // A tool call in a model's answer is another kind of call: a rule is about one kind.
      for (const k of ['tool', 'mcp', 'method'] as const)
        if (r.match[k] !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['match', k],
            message: "is for tool-proxy and MCP calls; this rule names llm_tool (a tool call in a model's answer), so it would match nothing: write two rules",
          });
      if (r.rate !== undefined)
        ctx.addIssue({ code: 'custom', path: ['rate'], message: "is for tool-proxy and MCP calls: a tool call in a model's answer is already paid for when it is read (deny or approve it)" });
    }
  });

const rules = z.array(rule).max(1000, 'must hold at most 1000 rules');

const section = z.strictObject({ default: z.enum(['allow', 'deny'], { error: 'must be allow or deny' }).optional(), timeout: wait.optional(), rules: rules.optional() });

/**
 * The section, or a list of rules (read as `{ rules: [...] }`, default allow). One object schema
 * underneath, so an error names its key (`policies.rules.2.action`) and the docs test can list
 * every key; a union would only say "Invalid input".
 */
export const policiesSchema = z
  .preprocess((v) => (Array.isArray(v) ? { rules: v } : v), section)
  .transform((p) => ({ default: p.default ?? ('allow' as const), timeout: p.timeout, rules: p.rules ?? [] }));

type ParsedPolicies = z.output<typeof policiesSchema>;

/** The parsed section as the rules src/approvals evaluates. */
export function policySet(p: ParsedPolicies | undefined): PolicySet {
  if (p === undefined) return { default: 'allow', rules: [] };
  const timeoutMs = p.timeout ?? POLICY_DEFAULTS.timeoutMs;
  return {
    default: p.default,
    rules: p.rules.map((r, index): PolicyRule => {
      const m = r.match ?? {};
      const method = m.method === undefined ? null : Array.isArray(m.method) ? m.method : [m.method];
      const conditions: ArgCondition[] = Object.entries(m.args ?? {}).map(([field, tests]) => ({ field, path: field.split('.'), tests }));
      const approvers = r.approvers ?? ['admin'];
      return {
        index,
        label: r.name ?? `policies[${index}]`,
        agent: m.agent?.map(globPattern) ?? null,
        tool: m.tool?.map(globPattern) ?? null,
        mcp: m.mcp?.map(globPattern) ?? null,
        mcpResource: m.mcp_resource?.map(globPattern) ?? null,
        mcpPrompt: m.mcp_prompt?.map(globPattern) ?? null,
        method,
        llmTool: m.llm_tool?.map(globPattern) ?? null,
        afterInjection: m.after_injection === true,
        args: conditions,
        action: r.action ?? 'allow',
        rate: r.rate ?? null,
        timeoutMs: r.timeout ?? timeoutMs,
        approvers: { roles: approvers.some((a) => !a.startsWith('user:')) ? ['admin'] : [], users: approvers.filter((a) => a.startsWith('user:')).map((a) => a.slice(5)) },
        reason: r.reason ?? null,
        source: { tool: m.tool ?? null, mcp: m.mcp ?? null, mcpResource: m.mcp_resource ?? null, mcpPrompt: m.mcp_prompt ?? null, llmTool: m.llm_tool ?? null },
      };
    }),
  };
}
