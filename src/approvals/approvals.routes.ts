import type { Hono } from 'hono';
import * as z from 'zod';
import { PROXIED_METHODS } from '../config/index.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../core/errors.js';
import type { Principal } from '../core/roles.js';
import { oneLine, queryInt } from '../core/validation.js';
import { readJsonBody, parseWith, readableAgent, type AppEnv } from '../server/index.js';
import { REFUSING_POLICY_ACTIONS } from '../domain/outcomes/index.js';
import type { StateManager, ToolsStore } from '../state/index.js';
import { assertMayDecideAny, deciderOf, type ApprovalDesk, type ApprovalView } from './desk.js';
import type { PolicyGate } from './gate.js';
import { toolName } from './calls.js';

const reasonBody = z.strictObject({ reason: oneLine(500).optional() });

const SERVICE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const askBody = z
  .strictObject({
    /** An HTTP tool service (`tools.<service>`), or with `mcp: true` an MCP server. */
    service: z.string().regex(SERVICE, 'must be a tool service or MCP server name'),
    mcp: z.boolean().optional(),
    /** HTTP: the path under the service (`/contacts`); MCP: the tool's name. */
    tool: z.string().min(1, 'must not be empty').max(2000, 'must be at most 2000 characters'),
    method: z
      .string()
      .transform((m) => m.toUpperCase())
      .pipe(z.enum(PROXIED_METHODS, { error: `must be one of ${PROXIED_METHODS.join(', ')}` }))
      .optional(),
    /** The call's arguments: the JSON body's fields (and query parameters), or an MCP tool's arguments. */
    args: z.record(z.string(), z.unknown()).optional(),
    note: oneLine(500).optional(),
  })
  .superRefine((b, ctx) => {
    if (b.mcp === true && b.method !== undefined) ctx.addIssue({ code: 'custom', path: ['method'], message: 'is for an HTTP tool call, not an MCP tool' });
  });

const STATUS = ['pending', 'decided', 'all'] as const;
/** A tool call's row reasons that mean a rule refused it on the spot (a person's answer is counted by the approvals). */
const POLICY_REFUSALS = ['policy_denied', 'rate_limited'];
const MAX_WAIT_S = 30;
const LIMIT = 'must be a whole number from 1 to 1000';
/** GET /api/approvals' query: each parameter checked, any other refused (`?before=x` was read as no bound). */
const listQuery = z.strictObject({
  status: z.enum(STATUS).optional(),
  limit: queryInt(z.number().min(1, LIMIT).max(1000, LIMIT), LIMIT).optional(),
  agent: z.string().optional(),
  before: z
    .string()
    .refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), 'must be an ISO time, e.g. 2026-11-29T10:00:00.000Z')
    .optional(),
});

/** Which approvals a caller may read: people all, an agent its own. */
function mayRead(p: Principal, a: Pick<ApprovalView, 'agentId'>): boolean {
  if (p.role === 'admin' || p.role === 'viewer') return true;
  return p.role === 'agent' && p.agentId === a.agentId;
}

/**
 * `GET /api/approvals` (the queue and its history), `GET /api/approvals/:id` (`?wait=` up to
 * 30 s for a decision), `POST /api/approvals/:id/approve|deny` (a person named by the rule; 409
 * once decided), `POST /api/approvals` (an agent asking ahead).
 */
export function approvalsRoutes(d: {
  desk: ApprovalDesk;
  gate: PolicyGate;
  state: StateManager;
  tools: ToolsStore;
  redact: (text: string) => string;
  /** Whether a tool service (or with `mcp`, an MCP server) of that name is configured: asking ahead for another is refused, as its call would be. */
  known: (service: string, mcp: boolean) => boolean;
}) {
  return (app: Hono<AppEnv>) => {
    app.get('/api/approvals', (c) => {
      const p = c.get('principal');
      if (p.role !== 'admin' && p.role !== 'viewer' && p.role !== 'agent') throw new ForbiddenError(`a ${p.role} token cannot read approvals`);
      const q = parseWith(listQuery, c.req.query());
      const status = q.status ?? 'all';
      const agent = p.role === 'agent' ? (p.agentId ?? '') : q.agent;
      const approvals = d.desk.list({ status: status === 'all' ? undefined : status, agentId: agent, before: q.before, limit: q.limit ?? 100 });
      return c.json({ approvals });
    });

    app.get('/api/approvals/:id', async (c) => {
      const p = c.get('principal');
      const id = c.req.param('id');
      const first = d.desk.get(id);
      if (!first || !mayRead(p, first)) throw new NotFoundError(`no approval ${id}`);
      const waitText = c.req.query('wait');
      if (waitText !== undefined) {
        const wait = Number(waitText);
        if (!Number.isFinite(wait) || wait < 0 || wait > MAX_WAIT_S) throw new ValidationError(`wait: must be a number of seconds from 0 to ${MAX_WAIT_S}`);
        await d.desk.settled(id, wait * 1000);
      }
      return c.json(d.desk.get(id));
    });

    for (const decision of ['approve', 'deny'] as const) {
      app.post(`/api/approvals/:id/${decision}`, async (c) => {
        const p = c.get('principal');
        const id = c.req.param('id');
        // Who can never decide is told so before anything else is read.
        const who = deciderOf(p);
        assertMayDecideAny(who);
        const body = parseWith(reasonBody, await readJsonBody(c.req, { optional: true }));
        // A reason is shown wherever the event is: scanned like any text a person typed.
        return c.json(d.desk.decide(id, decision, who, body.reason === undefined ? null : d.redact(body.reason)));
      });
    }

    // An agent's approvals by outcome, the time its calls waited, and its calls a rule refused (the run summary's row).
    app.get('/api/agents/:id/approvals', (c) => {
      const id = c.req.param('id');
      readableAgent(d.state, c.get('principal'), id);
      // A tool-proxy or MCP call a rule refused is a row of its own; a tool call withheld from a model's answer only its event.
      const withheld = d.state.countEvents(id, 'policy.decision', { actions: REFUSING_POLICY_ACTIONS, kinds: ['llm'] });
      return c.json({ ...d.desk.totals(id), refusedByPolicy: d.tools.countReasons(id, POLICY_REFUSALS) + withheld });
    });

    app.post('/api/approvals', async (c) => {
      const p = c.get('principal');
      if (p.role !== 'agent' || p.agentId === null) throw new ForbiddenError("asking ahead for an approval is an agent's: use the agent's own token (IRON_CAGE_TOKEN)");
      const b = parseWith(askBody, await readJsonBody(c.req));
      const agentId = p.agentId;
      const mcp = b.mcp === true;
      // An approval for a call the cage would refuse anyway could never be used.
      if (!d.known(b.service, mcp))
        throw new NotFoundError(
          mcp ? `no MCP server '${b.service}' is configured (mcp.${b.service} in the config file)` : `no tool service '${b.service}' is configured (tools.${b.service} in the config file)`,
        );
      const r = d.gate.ask(
        {
          kind: mcp ? 'mcp' : 'http',
          agentId,
          service: b.service,
          tool: mcp ? b.tool : toolName(b.tool),
          method: mcp ? null : (b.method ?? 'POST'),
          args: () => b.args ?? null,
        },
        b.note ?? null,
      );
      return r.decision === 'allow' ? c.json({ decision: 'allow', rule: r.rule, approval: null }) : c.json({ decision: 'approve', rule: r.approval.rule, approval: r.approval }, 201);
    });
  };
}
