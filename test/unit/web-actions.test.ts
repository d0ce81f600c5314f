import { describe, expect, it } from 'vitest';
import { approveAvailability, resetAvailability, secretAvailability, stopAvailability } from '../../web/actions.js';
import type { State } from '../../web/store.js';
import type { Agent, BreakerView, FeedEvent, Secret } from '../../web/types.js';

// What each action in the dashboard says about itself, from the page's state alone: the browser
// test (test/browser/stale-actions.test.ts) drives the same through a real run.

let seq = 0;
const ev = (type: string, agentId: string | null, data: object): FeedEvent => ({ seq: ++seq, ts: new Date().toISOString(), agentId, type, severity: 'info', message: type, data }) as FeedEvent;
const agent = (status: Agent['status'], limitUsd: number | null): Agent => ({ id: 'lg-1', status, budget: limitUsd === null ? null : { limitUsd, spentUsd: 45, reservedUsd: 0, waiting: 0 } }) as Agent;
const state = (o: Partial<State>): State => ({ agents: [], events: [], breakers: null, secrets: { status: 'loading' }, ...o }) as State;
const approval = { increaseUsd: 25, fromLimitUsd: 50, toLimitUsd: 75 };

describe('approveAvailability (the budget warning pop-up)', () => {
  it('is offered while the limit is the one the warning was about, float noise aside', () => {
    expect(approveAvailability('lg-1', approval, state({ agents: [agent('running', 50)] }))).toEqual({ ok: true });
    expect(approveAvailability('lg-1', { increaseUsd: 0.2, fromLimitUsd: 0.1 + 0.2, toLimitUsd: 0.5 }, state({ agents: [agent('running', 0.3)] }))).toEqual({ ok: true });
  });

  it('says who approved, or who changed the limit to what, and is off', () => {
    const approved = state({ agents: [agent('running', 75)], events: [ev('budget.changed', 'lg-1', { limitUsd: 75, previousUsd: 50, by: 'admin demo' })] });
    expect(approveAvailability('lg-1', approval, approved)).toEqual({ ok: false, reason: 'Approved by admin demo: budget is now $75.00' });
    const other = state({ agents: [agent('running', 60)], events: [ev('budget.changed', 'lg-1', { limitUsd: 60, previousUsd: 50, by: 'admin ann' })] });
    expect(approveAvailability('lg-1', approval, other)).toEqual({ ok: false, reason: 'Budget changed by admin ann: now $60.00' });
    expect(approveAvailability('lg-1', approval, state({ agents: [agent('running', null)] }))).toEqual({ ok: false, reason: 'Budget changed: no limit now' });
  });

  it('is off once the agent has ended', () => {
    expect(approveAvailability('lg-1', approval, state({ agents: [agent('completed', 50)] }))).toEqual({ ok: false, reason: 'Agent completed: nothing to act on' });
  });
});

describe('stopAvailability', () => {
  it('is off once anyone asked for a stop in this run, and on again after a restart', () => {
    const started = ev('agent.started', 'lg-1', { pid: 1, attempt: 1 });
    const stopping = ev('agent.stopping', 'lg-1', { requestedBy: 'admin ann via API', signal: 'SIGTERM' });
    expect(stopAvailability('lg-1', state({ agents: [agent('running', 50)], events: [started] }))).toEqual({ ok: true });
    expect(stopAvailability('lg-1', state({ agents: [agent('running', 50)], events: [started, stopping] }))).toEqual({ ok: false, reason: 'Stopping (asked by admin ann via API)' });
    const again = ev('agent.started', 'lg-1', { pid: 2, attempt: 2 });
    expect(stopAvailability('lg-1', state({ agents: [agent('running', 50)], events: [started, stopping, again] }))).toEqual({ ok: true });
  });
});

describe('resetAvailability and secretAvailability', () => {
  it('offers Reset only for a circuit that is not CLOSED', () => {
    const b = (s: string) => ({ service: 'crm', state: s }) as BreakerView;
    expect(resetAvailability('crm', state({ breakers: [b('OPEN')] }))).toEqual({ ok: true });
    expect(resetAvailability('crm', state({ breakers: [b('CLOSED')] }))).toEqual({ ok: false, reason: 'Already closed' });
  });

  it('keeps a dialog on the version it was opened on', () => {
    const opened = { id: 'secret-1', name: 'K', updatedAt: '2025-01-01T10:00:00.000Z' };
    const listed = (updatedAt: string) => state({ secrets: { status: 'ok', list: [{ ...opened, environment: 'development', updatedAt } as Secret] } });
    expect(secretAvailability(opened, listed(opened.updatedAt))).toEqual({ ok: true });
    const changed = secretAvailability(opened, listed('2025-01-01T10:05:00.000Z'));
    expect(changed.ok).toBe(false);
    expect(!changed.ok && changed.reason).toMatch(/^K was changed at .* since this was opened: close and open it again$/);
    expect(secretAvailability(opened, state({ secrets: { status: 'ok', list: [] } }))).toEqual({ ok: false, reason: 'K was deleted since this was opened' });
  });
});
