import { randomBytes } from 'node:crypto';
import { ConflictError } from '../core/errors.js';
import { FaultInjector, type FaultConfig, type FaultKind } from '../domain/reliability/index.js';

export interface FaultView {
  id: string;
  service: string;
  fromCall: number;
  count: number | null;
  durationMs: number | null;
  status: number | string;
  source: 'config' | 'api';
  addedAt: string;
  /** Calls to the service seen since the plan was added. */
  calls: number;
  injected: number;
  /** No later call can be failed by this plan any more. */
  exhausted: boolean;
}

interface Plan {
  id: string;
  source: 'config' | 'api';
  addedAt: number;
  injector: FaultInjector;
  injected: number;
}

/** Keeps a forgotten script from growing the list without bound. */
export const MAX_FAULTS = 100;

/**
 * Fault plans by service. Every call to a service advances each of its plans (a plan counts
 * calls from when it was added); the first plan that fires decides the call.
 */
export class FaultBoard {
  private readonly plans = new Map<string, Plan[]>();
  private size = 0;

  add(config: FaultConfig, source: 'config' | 'api', now: number): FaultView {
    if (this.size >= MAX_FAULTS) throw new ConflictError(`at most ${MAX_FAULTS} fault plans; DELETE /api/faults to clear them`);
    const plan: Plan = { id: `f-${randomBytes(4).toString('hex')}`, source, addedAt: now, injector: new FaultInjector(config), injected: 0 };
    const list = this.plans.get(config.service) ?? [];
    list.push(plan);
    this.plans.set(config.service, list);
    this.size++;
    return view(plan, now);
  }

  /** The fault for this call, if any plan fires. Cheap when the service has no plan. */
  next(service: string, now: number): FaultKind | null {
    if (this.size === 0) return null;
    const list = this.plans.get(service);
    if (!list) return null;
    let fault: FaultKind | null = null;
    for (const plan of list) {
      if (plan.injector.exhausted(now)) continue;
      const d = plan.injector.next(now);
      if (d.inject && fault === null) {
        fault = d.fault;
        plan.injected++;
      }
    }
    return fault;
  }

  remove(id: string): FaultView | null {
    for (const [service, list] of this.plans) {
      const i = list.findIndex((p) => p.id === id);
      if (i < 0) continue;
      const [plan] = list.splice(i, 1);
      if (list.length === 0) this.plans.delete(service);
      this.size--;
      return view(plan!, Date.now());
    }
    return null;
  }

  clear(): string[] {
    const ids = [...this.plans.values()].flat().map((p) => p.id);
    this.plans.clear();
    this.size = 0;
    return ids;
  }

  list(now: number): FaultView[] {
    return [...this.plans.values()]
      .flat()
      .sort((a, b) => a.addedAt - b.addedAt)
      .map((p) => view(p, now));
  }
}

function view(p: Plan, now: number): FaultView {
  const c = p.injector.config;
  return {
    id: p.id,
    service: c.service,
    fromCall: c.fromCall,
    count: c.count,
    durationMs: c.durationMs,
    status: c.status,
    source: p.source,
    addedAt: new Date(p.addedAt).toISOString(),
    calls: p.injector.callCount,
    injected: p.injected,
    exhausted: p.injector.exhausted(now),
  };
}
