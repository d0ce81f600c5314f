import { EventEmitter } from 'node:events';
import { IronCageError } from '../core/errors.js';

/** What the gate watches to know the caller gave up: the response (its 'close' before it finished). */
export interface HeldResponse {
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
  readonly writableFinished: boolean;
  readonly destroyed: boolean;
}

/** The caller went away while its call waited at a paused agent's gate: nothing was sent, spent or recorded. */
export class GaveUpAtGateError extends IronCageError {
  constructor(agentId: string) {
    super('client_closed', 499, `the client closed the request while agent ${agentId} was paused`, { retry: false });
  }
}

/**
 * The pause gate: a paused agent's next LLM and tool calls wait here (after authentication,
 * before anything is reserved or sent) until it is resumed or their caller goes away. For an
 * agent that is not paused `hold` is one Map lookup and returns null: nothing on the hot path.
 */
export class PauseGate {
  private readonly paused = new Map<string, { waiting: number; released: EventEmitter }>();

  /** Null when `agentId` is not paused (go on); else a promise that settles when the call may go on, or rejects when its caller gave up. */
  hold(agentId: string, res: HeldResponse): Promise<void> | null {
    const p = this.paused.get(agentId);
    if (p === undefined) return null;
    return new Promise<void>((resolve, reject) => {
      if (res.destroyed) return reject(new GaveUpAtGateError(agentId));
      p.waiting++;
      const gone = (): void => {
        if (res.writableFinished) return;
        p.released.off('go', go);
        p.waiting--;
        reject(new GaveUpAtGateError(agentId));
      };
      const go = (): void => {
        res.off('close', gone);
        resolve();
      };
      p.released.once('go', go);
      res.once('close', gone);
    });
  }

  isPaused(agentId: string): boolean {
    return this.paused.has(agentId);
  }

  pause(agentId: string): void {
    if (this.paused.has(agentId)) return;
    const released = new EventEmitter();
    // Any number of calls may wait at once.
    released.setMaxListeners(0);
    this.paused.set(agentId, { waiting: 0, released });
  }

  /** Open the gate; answers how many calls were waiting (they go on now). */
  resume(agentId: string): number {
    const p = this.paused.get(agentId);
    if (p === undefined) return 0;
    this.paused.delete(agentId);
    const held = p.waiting;
    p.released.emit('go');
    return held;
  }

  /** Calls waiting at the agent's gate now. */
  held(agentId: string): number {
    return this.paused.get(agentId)?.waiting ?? 0;
  }
}
