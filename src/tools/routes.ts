import type { Hono } from 'hono';
import { z } from 'zod';
import { assertRole } from '../auth/index.js';
import { IronCageError, NotFoundError } from '../core/errors.js';
import { microsToUsd } from '../core/money.js';
import { faultStatus } from '../config/index.js';
import { formatFallbackRate, formatPercent, formatSaved, SERVICE_NAME, SERVICE_RULE, serviceMetrics, type FaultConfig } from '../domain/reliability/index.js';
import { parseJsonBody, parseWith, type AppEnv } from '../server/index.js';
import type { ToolCallRow } from '../state/index.js';
import type { ToolEntry } from './entry.js';
import type { ToolProxy } from './proxy.js';

const posInt = z.number().int('must be a whole number').min(1, 'must be 1 or more');

/** POST /api/faults: the one check a plan from the API gets (the service must also be configured). */
const faultBody = z
  .strictObject({
    service: z.string().regex(SERVICE_NAME, SERVICE_RULE),
    fromCall: posInt.optional(),
    count: posInt.nullable().optional(),
    durationMs: posInt.nullable().optional(),
    status: faultStatus,
  })
  .transform((b): FaultConfig => ({ service: b.service, fromCall: b.fromCall ?? 1, count: b.count ?? null, durationMs: b.durationMs ?? null, status: b.status }));

const callsQuery = z.strictObject({
  service: z.string().optional(),
  agentId: z.string().optional(),
  before: z.coerce.number().int('must be a whole number').min(1, 'must be 1 or more').optional(),
  limit: z.coerce.number().int('must be a whole number').min(1, 'must be 1-1000').max(1000, 'must be 1-1000').optional(),
});

const ratio = (r: number | null): number | null => (r === null ? null : Math.round(r * 10_000) / 10_000);
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** What GET /api/breakers says about one service. */
export function breakerView(entry: ToolEntry, cacheEntries: number) {
  const snap = entry.breaker.snapshot();
  const m = serviceMetrics(snap, entry.tiers.snapshot(), entry.config.costPerCallMicros);
  const o = entry.config.breaker;
  return {
    service: entry.name,
    url: entry.config.url,
    state: snap.state,
    calls: m.calls,
    successes: m.successes,
    failures: m.failures,
    blocked: m.blocked,
    served: m.served,
    successRate: ratio(m.successRate),
    cacheHitRate: ratio(m.cacheHitRate),
    costPerCallUsd: microsToUsd(m.costPerCallMicros),
    costSavedUsd: microsToUsd(m.costSavedMicros),
    retryAfterMs: entry.breaker.retryAfterMs(),
    consecutiveFailures: snap.consecutiveFailures,
    openCount: snap.openCount,
    openedAt: iso(snap.openedAt),
    lastFailure: snap.lastFailureReason,
    lastFailureAt: iso(snap.lastFailureAt),
    lastSuccessAt: iso(snap.lastSuccessAt),
    fallbackActive: entry.fallback.active,
    cacheEntries,
    latencyMs: entry.latency(),
    options: { failureThreshold: o.failureThreshold, cooldownMs: o.cooldownMs, halfOpenProbes: o.halfOpenMaxProbes, cacheTtlMs: entry.config.cacheTtlMs },
    display: { saved: formatSaved(m.costSavedMicros), fallback: formatFallbackRate(m.successRate), cacheHitRate: formatPercent(m.cacheHitRate) },
  };
}

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

/** /api/breakers, /api/faults and /api/tools/calls. */
export function toolRoutes(tools: ToolProxy): (app: Hono<AppEnv>) => void {
  const entryOf = (name: string): ToolEntry => {
    const e = tools.entries.get(name);
    if (!e) throw new NotFoundError(`no tool service '${name}' is configured`);
    return e;
  };
  const cacheCounts = () => tools.store.cacheCounts(Date.now());
  const views = () => {
    const counts = cacheCounts();
    return [...tools.entries.values()].map((e) => {
      tools.refresh(e);
      return breakerView(e, counts.get(e.name) ?? 0);
    });
  };

  return (app) => {
    app.get('/api/breakers', (c) => {
      const services = views();
      const sum = (f: (v: (typeof services)[number]) => number) => services.reduce((a, v) => a + f(v), 0);
      const totalSavedMicros = [...tools.entries.values()].reduce((a, e) => a + e.breaker.snapshot().counters.rejected * e.config.costPerCallMicros, 0);
      return c.json({
        services,
        totals: { calls: sum((v) => v.calls), blocked: sum((v) => v.blocked), costSavedUsd: microsToUsd(totalSavedMicros), display: { saved: formatSaved(totalSavedMicros) } },
      });
    });

    app.get('/api/breakers/:service', (c) => {
      const e = entryOf(c.req.param('service'));
      tools.refresh(e);
      return c.json(breakerView(e, cacheCounts().get(e.name) ?? 0));
    });

    app.post('/api/breakers/:service/reset', async (c) => {
      const p = c.get('principal');
      assertRole(p, 'admin');
      const e = entryOf(c.req.param('service'));
      parseJsonBody(await c.req.text(), { optional: true });
      tools.reset(e, `${p.role} ${p.name}`);
      return c.json(breakerView(e, cacheCounts().get(e.name) ?? 0));
    });

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
      const config = parseWith(faultBody, parseJsonBody(await c.req.text()));
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
