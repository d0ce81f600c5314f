import type { Hono } from 'hono';
import { queryInt } from '../core/validation.js';
import * as z from 'zod';
import { assertRole, canRead } from '../auth/index.js';
import { NotFoundError } from '../core/errors.js';
import type { IronEvent } from '../core/events.js';
import { REFUSING_POLICY_ACTIONS } from '../domain/outcomes/index.js';
import { PII_TYPES } from '../domain/pii/index.js';
import { parseWith, type AppEnv } from '../server/index.js';
import type { StateManager } from '../state/index.js';
import type { PiiProtection } from './protection.js';

const auditQuery = z.strictObject({
  agentId: z.string().optional(),
  type: z.enum(PII_TYPES).optional(),
  after: queryInt(z.number().min(0, 'must be 0 or more')).optional(),
  limit: queryInt(z.number().min(1, 'must be 1-1000').max(1000, 'must be 1-1000')).optional(),
});

/** Detections looked through for the newest one with a preview (a streamed answer's has none). */
const LATEST_LOOKBACK = 50;

type ProtectionState = Pick<StateManager, 'loadAgent' | 'countEvents' | 'eventsOfTypes' | 'eventCountOf'>;

/** The newest redacted preview of a PII detection (never the value itself), or null before any. */
function latestPreview(state: ProtectionState, agentId: string) {
  const recent = state.eventsOfTypes(agentId, ['pii.detected'], { limit: LATEST_LOOKBACK, newestFirst: true }) as Array<IronEvent<'pii.detected'>>;
  const e = recent.find((x) => x.data.preview !== '') ?? recent[0];
  return e ? { ts: e.ts, preview: e.data.preview, types: e.data.types, location: e.data.location } : null;
}

/** The newest prompt injection finding (its excerpt already redacted), or null before any. */
function latestInjection(state: ProtectionState, agentId: string) {
  const [e] = state.eventsOfTypes(agentId, ['injection.detected'], { limit: 1, newestFirst: true }) as Array<IronEvent<'injection.detected'>>;
  return e ? { ts: e.ts, source: e.data.source, action: e.data.action, signals: e.data.signals, score: e.data.score, excerpt: e.data.excerpt } : null;
}

/** GET /api/agents/:id/protection: what the dashboard's protection panel shows. */
export type ProtectionReport = ReturnType<typeof protectionReport>;

function protectionReport(pii: PiiProtection, state: ProtectionState, agentId: string, injection: boolean) {
  return {
    agentId,
    ...pii.countersFor(agentId),
    unauthorizedActions: state.countEvents(agentId, 'tool.refused') + state.countEvents(agentId, 'policy.decision', { actions: REFUSING_POLICY_ACTIONS }),
    promptInjectionAttempts: state.eventCountOf(agentId, 'injection.detected'),
    promptInjectionsBlocked: state.countEvents(agentId, 'injection.detected', { actions: ['blocked'] }),
    monitored: { pii: true, unauthorizedActions: true, promptInjection: injection },
    latest: latestPreview(state, agentId),
    latestInjection: latestInjection(state, agentId),
  };
}

/**
 * `GET /api/audit/pii` (admins: the audit trail, values sealed) and
 * `GET /api/agents/:id/protection` (the agent's protection counters, earlier runs included).
 * Unauthorized actions are the calls the cage refused the agent: the tool proxy's and an MCP
 * server's rules' (`tool.refused` events) and the tool policies' (a `policy.decision` that denied
 * the call or found it over its rule's rate); prompt injection attempts are the tool results the injection guard flagged
 * (`injection.detected` events, src/injection), monitored unless `safety.injection` is off at every door for the agent.
 */
export function piiRoutes(pii: PiiProtection, state: ProtectionState, o: { injection: (agentId: string) => boolean } = { injection: () => true }): (app: Hono<AppEnv>) => void {
  return (app) => {
    app.get('/api/audit/pii', (c) => {
      assertRole(c.get('principal'), 'admin');
      const q = parseWith(auditQuery, c.req.query());
      const rows = pii.records({ agentId: q.agentId, type: q.type, after: q.after, limit: q.limit ?? 100 });
      // The sealed value stays in the database: the API shows that it exists, not what it is.
      return c.json({ records: rows.map(({ valueSealed: _sealed, ...r }) => ({ ...r, sealed: true })), nextAfter: rows.at(-1)?.id ?? q.after ?? 0 });
    });
    app.get('/api/agents/:id/protection', (c) => {
      const id = c.req.param('id');
      if (!state.loadAgent(id) || !canRead(c.get('principal'), id)) throw new NotFoundError(`no agent ${id}`);
      return c.json(protectionReport(pii, state, id, o.injection(id)));
    });
  };
}
