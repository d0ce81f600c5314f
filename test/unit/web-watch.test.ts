import { describe, expect, it } from 'vitest';
import { pauseAvailability, pausedOf, resumeAvailability } from '../../web/actions.js';
import type { State } from '../../web/store.js';
import { toastFor } from '../../web/toasts.js';
import type { Agent, AnyEvent, PausedView } from '../../web/types.js';

// The watch in the page, from its state alone: the pause gate's buttons, and the
// pop-ups that lead into the timeline. test/browser/timeline.test.ts drives the same through a run.

const paused: PausedView = { since: '2026-11-24T10:00:00.000Z', by: 'watch', reason: 'loop', cause: 'loop', held: 1 };
const agent = (status: Agent['status'], p: PausedView | null | undefined): Agent => ({ id: 'lg-1', status, ...(p === undefined ? {} : { paused: p }) }) as unknown as Agent;
const state = (o: Partial<State>): State => ({ agents: [], events: [], watch: {}, role: 'admin', ...o }) as State;

describe('Pause and Resume', () => {
  it('reads the pause from the status object first, else from the watch view', () => {
    expect(pausedOf('lg-1', state({ agents: [agent('running', paused)] }))).toBe(paused);
    expect(pausedOf('lg-1', state({ agents: [agent('running', null)], watch: { 'lg-1': { paused } as never } }))).toBeNull();
    expect(pausedOf('lg-1', state({ agents: [agent('running', undefined)], watch: { 'lg-1': { paused } as never } }))).toBe(paused);
  });

  it('offers Pause while running and not paused, Resume only to an admin while paused', () => {
    expect(pauseAvailability('lg-1', state({ agents: [agent('running', null)] }))).toEqual({ ok: true });
    expect(pauseAvailability('lg-1', state({ agents: [agent('running', paused)] }))).toEqual({ ok: false, reason: 'Paused already (by watch)' });
    expect(resumeAvailability('lg-1', state({ agents: [agent('running', paused)] }))).toEqual({ ok: true });
    expect(resumeAvailability('lg-1', state({ agents: [agent('running', null)] }))).toEqual({ ok: false, reason: 'Not paused' });
    expect(resumeAvailability('lg-1', state({ agents: [agent('running', paused)], role: 'viewer' }))).toEqual({ ok: false, reason: 'Read-only: only an admin can resume' });
    expect(resumeAvailability('lg-1', state({ agents: [agent('completed', paused)] }))).toEqual({ ok: false, reason: 'Agent completed: nothing to act on' });
  });
});

describe('pop-ups that lead into the timeline', () => {
  const ev = (type: string, data: object) => ({ seq: 42, ts: '2026-11-24T10:00:00.000Z', agentId: 'lg-1', type, severity: 'warn', message: type, data }) as AnyEvent;

  it('a loop says what repeats and what it wasted, and lands on its own row', () => {
    const t = toastFor(
      ev('watch.loop', {
        kind: 'tool',
        key: 'k',
        label: 'crm GET /leads/42',
        count: 3,
        windowMs: 300_000,
        firstTs: new Date().toISOString(),
        requestIds: [],
        toolCallIds: [7, 8, 9],
        spentUsd: 0.3,
        wastedUsd: 0.2,
        policy: 'pause',
      }),
      [],
    )!;
    expect(t).toMatchObject({ kind: 'watch', severity: 'error', title: 'Loop: 3× the same tool call', jump: { key: 'ev:42', ms: Date.parse('2026-11-24T10:00:00.000Z') } });
    expect(t.body).toMatch(/^crm GET \/leads\/42 · \$0\.20 wasted in .* · the agent is paused$/);
  });

  it('a PII finding lands on its row, whose links are the call it came from', () => {
    const t = toastFor(ev('pii.detected', { location: 'llm.output', action: 'redacted', types: { EMAIL: 1 }, severity: 'WARN', preview: 'x', requestRef: null, counters: {} }), [])!;
    expect(t.jump).toEqual({ key: 'ev:42', ms: Date.parse('2026-11-24T10:00:00.000Z') });
  });

  it('a pause and its resume share one pop-up', () => {
    const p = toastFor(ev('agent.paused', { by: 'admin ann', reason: '', cause: 'manual', causeSeq: null }), [])!;
    const r = toastFor(ev('agent.resumed', { by: 'admin ann', pausedMs: 65_000, held: 2 }), [])!;
    expect([p.key, p.title, r.key, r.title, r.body]).toEqual(['paused:lg-1', 'Agent paused by admin ann', 'paused:lg-1', 'Agent resumed by admin ann', 'after 1m05s; 2 held calls go on']);
  });
});
