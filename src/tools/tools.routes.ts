import type { Hono } from 'hono';
import { queryInt } from '../core/validation.js';
import * as z from 'zod';
import { assertRole } from '../auth/index.js';
import { IronCageError, NotFoundError } from '../core/errors.js';
import { faultCalls, faultDurationMs, faultStatus } from '../config/index.js';
import { SERVICE_NAME, SERVICE_RULE, type FaultConfig } from '../domain/reliability/index.js';
import { readJsonBody, parseWith, type AppEnv } from '../server/index.js';
import type { ToolCallRow } from '../state/index.js';
import type { ToolEntry } from './entry.js';
import type { ToolProxy } from './proxy.js';

/** POST /api/faults: the one check a plan from the API gets (the service must also be configured). */
const faultBody = z
  .strictObject({
    service: z.string().regex(SERVICE_NAME, SERVICE_RULE),
    fromCall: faultCalls.optional(),
    count: faultCalls.nullable().optional(),
    durationMs: faultDurationMs.nullable().optional(),
    status: faultStatus,
  })
  .transform((b): FaultConfig => ({ service: b.service, fromCall: b.fromCall ?? 1, count: b.count ?? null, durationMs: b.durationMs ?? null, status: b.status }));

const callsQuery = z.strictObject({
  service: z.string().optional(),
  agentId: z.string().optional(),
  before: queryInt(z.number().min(1, 'must be 1 or more')).optional(),
  limit: queryInt(z.number().min(1, 'must be 1-1000').max(1000, 'must be 1-1000')).optional(),
});

function callView(r: ToolCallRow) {
  return {
    id: r.id,
    ts: r.ts,
    agentId: r.agentId,
    service: r.service,
    method: r.method,
    path: r.path,
    status: r.status,
    tier: r.tier,
    reason: r.reason,
    detail: r.detail,
    upstreamStatus: r.upstreamStatus,
    latencyMs: r.latencyMs,
    upstreamMs: r.upstreamMs,
    bytes: r.bytes,
    redactions: r.redactions,
    fault: r.fault,
  };
}

/** /api/faults and /api/tools/calls (the services' breakers are the registry's: /api/breakers). */
export function toolRoutes(tools: ToolProxy): (app: Hono<AppEnv>) => void {
  const entryOf = (name: string): ToolEntry => {
    const e = tools.entries.get(name);
    if (!e) throw new NotFoundError(`no tool service '${name}' is configured`);
    return e;
  };
  return (app) => {
    app.get('/api/faults', (c) => {
      assertRole(c.get('principal'), 'admin', 'viewer');
      return c.json({ allowed: tools.faultsAllowed, faults: tools.faults.list(Date.now()) });
    });

    app.post('/api/faults', async (c) => {
      const p = c.get('principal');
      assertRole(p, 'admin');
      if (!tools.faultsAllowed) {
        throw new IronCageError('faults_disabled', 403, 'fault injection is off on a non-loopback bind; start iron-cage with allow_faults: true (or IRON_CAGE_ALLOW_FAULTS=1) to use it');
      }
      const config = parseWith(faultBody, await readJsonBody(c.req));
      entryOf(config.service);
      const fault = tools.faults.add(config, 'api', Date.now());
      const requestedBy = `${p.role} ${p.name}`;
      const what = `${fault.status} from call ${fault.fromCall}${fault.count ? ` for ${fault.count} call${fault.count === 1 ? '' : 's'}` : ''}${fault.durationMs ? ` for ${fault.durationMs} ms` : ''}${!fault.count && !fault.durationMs ? ' until removed' : ''}`;
      tools.recordEvent({
        agentId: null,
        type: 'fault.added',
        severity: 'warn',
        message: `Fault plan ${fault.id}: ${fault.service} will fail with ${what} (by ${requestedBy})`,
        data: { id: fault.id, service: fault.service, fromCall: fault.fromCall, count: fault.count, durationMs: fault.durationMs, status: fault.status, requestedBy },
      });
      return c.json(fault, 201);
    });

    app.delete('/api/faults/:id', (c) => {
      const p = c.get('principal');
      assertRole(p, 'admin');
      const removed = tools.faults.remove(c.req.param('id'));
      if (!removed) throw new NotFoundError(`no fault plan ${c.req.param('id')}`);
      const requestedBy = `${p.role} ${p.name}`;
      tools.recordEvent({
        agentId: null,
        type: 'fault.removed',
        severity: 'info',
        message: `Fault plan ${removed.id} on ${removed.service} removed by ${requestedBy}`,
        data: { ids: [removed.id], requestedBy },
      });
      return c.json({ removed: [removed.id] });
    });

    app.delete('/api/faults', (c) => {
      const p = c.get('principal');
      assertRole(p, 'admin');
      const ids = tools.faults.clear();
      const requestedBy = `${p.role} ${p.name}`;
      if (ids.length > 0) {
        tools.recordEvent({
          agentId: null,
          type: 'fault.removed',
          severity: 'info',
          message: `${ids.length} fault plan${ids.length === 1 ? '' : 's'} removed by ${requestedBy}`,
          data: { ids, requestedBy },
        });
      }
      return c.json({ removed: ids });
    });

    app.get('/api/tools/calls', (c) => {
      const p = c.get('principal');
      const q = parseWith(callsQuery, c.req.query());
      // An agent token reads its own calls only, whatever it asks for.
      const agentId = p.role === 'agent' ? p.agentId! : q.agentId;
      const limit = q.limit ?? 100;
      const rows = tools.store.recentCalls({ service: q.service, agentId, before: q.before, limit });
      return c.json({ calls: rows.map(callView), nextBefore: rows.length === limit ? rows[rows.length - 1]!.id : null });
    });
  };
}
