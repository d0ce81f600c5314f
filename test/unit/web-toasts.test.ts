import { describe, expect, it } from 'vitest';
import { toastFor } from '../../web/toasts.js';
import type { AnyEvent } from '../../web/types.js';

const ev = (delayMs: number, message: string) =>
  ({ seq: 1, ts: new Date().toISOString(), agentId: 'lg-1', type: 'agent.restarting', severity: 'warn', message, data: { attempt: 2, delayMs } }) as AnyEvent;

// The crash pop-up says what the supervisor says: when it restarts and from where.
describe('the restart pop-up', () => {
  it("replaces the crash's pop-up with the supervisor's own restart message", () => {
    const t = toastFor(ev(1000, 'Restarting in 1.0s from the start (it saved no checkpoint) (restart 1 of 5)'), []);
    expect(t).toMatchObject({ key: 'agent:lg-1', title: 'Agent crashed: restarting', body: 'Restarting in 1.0s from the start (it saved no checkpoint) (restart 1 of 5)' });
    expect(toastFor(ev(0, 'Agent restarting from the start (it saved no checkpoint)'), [])).toBeNull();
  });
});
