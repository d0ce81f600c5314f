import type { BudgetTracker } from '../domain/budget/index.js';
import { formatUsd, microsToUsd, type Micros } from '../core/money.js';
import type { StateManager } from '../state/index.js';

/** At most one `budget.waiting` count update per agent this often, between the first and the last. */
const WAIT_NOTE_MS = 1000;

/**
 * The `budget.waiting` events of the meter: one when an agent's calls start to wait, one when
 * none waits any more, and count updates in between throttled, so a burst of waiting calls is
 * not a burst of synchronous event writes.
 *
 * @example
 *   const notes = new WaitNotices(tracker, state, (fn) => fn());
 *   notes.changed('lg-1', 20_000, 'gpt-4o');
 */
export class WaitNotices {
  /** Agents whose calls were announced waiting (owed a "none waits any more" event), and when. */
  private readonly notes = new Map<string, { lastAt: number; timer: NodeJS.Timeout | null; micros: Micros; model: string | null }>();

  constructor(
    private readonly tracker: BudgetTracker,
    private readonly state: StateManager,
    private readonly safely: (fn: () => void) => void,
  ) {}

  /**
   * The agent's count of waiting calls moved. Announced at once when calls start to wait (0→n)
   * and when none waits any more (n→0); in between at most once a second (the status route
   * shows the live count), so a burst of waiting calls is not a burst of synchronous writes.
   */
  changed(agentId: string, micros: Micros, model: string | null): void {
    const waiting = this.tracker.snapshot(agentId)?.waitingCalls ?? 0;
    const note = this.notes.get(agentId);
    if (waiting === 0) {
      if (note === undefined) return;
      if (note.timer) clearTimeout(note.timer);
      this.notes.delete(agentId);
      this.event(agentId, 0, null);
      return;
    }
    if (note === undefined) {
      this.notes.set(agentId, { lastAt: Date.now(), timer: null, micros, model });
      this.event(agentId, micros, model);
      return;
    }
    // A call leaving (model null) keeps the last newcomer's figures for the update.
    if (model !== null) Object.assign(note, { micros, model });
    if (note.timer) return;
    note.timer = setTimeout(
      () => {
        note.timer = null;
        if (this.notes.get(agentId) !== note || (this.tracker.snapshot(agentId)?.waitingCalls ?? 0) === 0) return;
        note.lastAt = Date.now();
        this.safely(() => this.event(agentId, note.micros, note.model));
      },
      Math.max(0, note.lastAt + WAIT_NOTE_MS - Date.now()),
    );
    note.timer.unref?.();
  }

  /** The `budget.waiting` event: how many calls wait, and what the in-flight ones hold. */
  private event(agentId: string, micros: Micros, model: string | null): void {
    const s = this.tracker.snapshot(agentId);
    const waiting = s?.waitingCalls ?? 0;
    const held = `${formatUsd(s?.reservedMicros ?? 0)} held by ${s?.openReservations ?? 0} in-flight request${s?.openReservations === 1 ? '' : 's'}`;
    this.state.record({
      agentId,
      type: 'budget.waiting',
      severity: waiting > 0 ? 'info' : 'debug',
      message:
        waiting > 0 ? `${waiting} LLM call${waiting === 1 ? '' : 's'} wait${waiting === 1 ? 's' : ''} for budget: ${formatUsd(micros)} needed, ${held}` : 'No LLM call waits for budget any more',
      data: { waiting, requestedUsd: microsToUsd(micros), reservedUsd: microsToUsd(s?.reservedMicros ?? 0), inFlight: s?.openReservations ?? 0, model },
    });
  }
}
