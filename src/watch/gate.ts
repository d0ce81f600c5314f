import type { IncomingMessage, ServerResponse } from 'node:http';
import { IronCageError } from '../core/errors.js';
import { WATCH_DEFAULTS, type WatchGateConfig } from '../config/index.js';
import { clientGone, onHangUp, readBodyAhead } from '../server/index.js';

/** A call at the gate: its request, its response, and how many body bytes its handler reads at most. */
export interface HeldCall {
  req: IncomingMessage;
  res: ServerResponse;
  bodyLimit: number;
}

/** The caller went away while its call waited at a paused agent's gate: nothing was sent, spent or recorded. */
export class GaveUpAtGateError extends IronCageError {
  constructor(agentId: string) {
    super('client_closed', 499, `the client closed the request while agent ${agentId} was paused`, { retry: false });
  }
}

/** A paused agent can be retried in minutes at best: an admin resumes it. Under the 60 s the SDKs honour. */
const PAUSED_RETRY_AFTER_S = 30;

/**
 * A paused agent's call the gate would not hold (too many held, too many bytes) or held too long
 * (`watch.gate.*`): 503 with Retry-After, nothing sent, spent or recorded. Its body may be unread:
 * the connection closes behind the answer.
 */
export class AgentPausedError extends IronCageError {
  constructor(message: string) {
    super('agent_paused', 503, message, { kind: 'unavailable', retryAfterS: PAUSED_RETRY_AFTER_S, close: true });
  }
}

const mb = (bytes: number): string => `${Math.round((bytes / (1024 * 1024)) * 100) / 100} MB`;
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** One call waiting: how it leaves (`go` on resume), whether its caller is still there, and what it holds. */
interface Held {
  go: () => void;
  here: () => boolean;
  bytes: number;
}

/**
 * The pause gate: a paused agent's next LLM and tool calls wait here (after authentication,
 * before anything is parsed, reserved or sent) until it is resumed, their caller goes away, or
 * they have waited `hold_s`. For an agent that is not paused `hold` is one Map lookup and
 * returns null: nothing on the hot path.
 *
 * A held call's body is read into memory while it waits, so its socket keeps being read and a
 * caller that hangs up (close, reset, half-close, on a keep-alive or pipelined connection, with
 * its body whole or cut short) is seen at once and leaves: no row, no reservation, no charge.
 * A call whose caller is gone by the resume does not go on either. What the gate holds is
 * bounded: calls per agent and in all, their bodies' bytes in all, and each call's wait.
 */
export class PauseGate {
  private readonly paused = new Map<string, Set<Held>>();
  private total = 0;
  private bytes = 0;

  constructor(private readonly limits: WatchGateConfig = WATCH_DEFAULTS.gate) {}

  /**
   * Null when `agentId` is not paused (go on); else a promise that settles when the call may go
   * on, or rejects: `GaveUpAtGateError` (its caller went away), `AgentPausedError` (past a bound),
   * or how reading its body failed (too large, broken).
   */
  hold(agentId: string, call: HeldCall): Promise<void> | null {
    const waiting = this.paused.get(agentId);
    if (waiting === undefined) return null;
    const { req, res } = call;
    if (clientGone(req, res)) return Promise.reject(new GaveUpAtGateError(agentId));
    const full = this.full(agentId, waiting.size, Number(req.headers['content-length']) || 0);
    if (full) return Promise.reject(new AgentPausedError(full));
    return new Promise<void>((resolve, reject) => {
      const held: Held = { go: () => {}, here: () => !clientGone(req, res), bytes: 0 };
      waiting.add(held);
      this.total++;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      let stopWatching = (): void => {};
      // Its body is read now (and counted): the socket stays read, so a hang-up behind it is seen.
      const count = (chunk: Buffer): void => {
        held.bytes += chunk.length;
        this.bytes += chunk.length;
        if (this.bytes > this.limits.maxHeldBytes) leave(new AgentPausedError(this.bytesMessage(agentId)));
      };
      const leave = (err: Error | null): void => {
        if (done) return;
        done = true;
        waiting.delete(held);
        this.total--;
        this.bytes -= held.bytes;
        req.off('data', count);
        stopWatching();
        clearTimeout(timer);
        if (err === null) return resolve();
        // Refused: nothing more of its body is read (the answer closes the connection).
        req.pause();
        reject(err);
      };
      req.on('data', count);
      readBodyAhead(req, call.bodyLimit).then(
        () => req.off('data', count),
        (e: unknown) => leave(clientGone(req, res) || (e as { reason?: string }).reason === 'client_aborted' ? new GaveUpAtGateError(agentId) : (e as Error)),
      );
      stopWatching = onHangUp(req, res, () => leave(new GaveUpAtGateError(agentId)));
      timer = setTimeout(() => leave(new AgentPausedError(this.heldTooLong(agentId))), this.limits.holdMs);
      timer.unref();
      // Resumed: only a caller still there goes on.
      held.go = () => leave(clientGone(req, res) ? new GaveUpAtGateError(agentId) : null);
    });
  }

  isPaused(agentId: string): boolean {
    return this.paused.has(agentId);
  }

  pause(agentId: string): void {
    if (this.paused.has(agentId)) return;
    this.paused.set(agentId, new Set());
  }

  /** Open the gate: the calls waiting whose caller is still there go on now (answers how many). */
  resume(agentId: string): number {
    const waiting = this.paused.get(agentId);
    if (waiting === undefined) return 0;
    this.paused.delete(agentId);
    let going = 0;
    for (const h of [...waiting]) {
      if (h.here()) going++;
      h.go();
    }
    return going;
  }

  /** Calls waiting at the agent's gate now whose caller is still there (those that would go on if it were resumed now). */
  held(agentId: string): number {
    const waiting = this.paused.get(agentId);
    if (waiting === undefined) return 0;
    let n = 0;
    for (const h of waiting) if (h.here()) n++;
    return n;
  }

  /** Why one more call cannot be held, or null. `declared`: its Content-Length, if it said one. */
  private full(agentId: string, waiting: number, declared: number): string | null {
    const { maxHeldPerAgent, maxHeld, maxHeldBytes } = this.limits;
    if (waiting >= maxHeldPerAgent) {
      return `agent ${agentId} is paused and already has ${plural(waiting, 'call')} waiting at its gate (watch.gate.max_held_per_agent: ${maxHeldPerAgent}); this one was not sent. Try again once an admin resumes it.`;
    }
    if (this.total >= maxHeld) {
      return `agent ${agentId} is paused, and ${plural(this.total, 'call')} of paused agents are already waiting (watch.gate.max_held: ${maxHeld}); this one was not sent. Try again once an admin resumes it.`;
    }
    if (this.bytes + declared > maxHeldBytes) return this.bytesMessage(agentId);
    return null;
  }

  private bytesMessage(agentId: string): string {
    const max = this.limits.maxHeldBytes;
    return `agent ${agentId} is paused, and the calls waiting at paused agents' gates would hold more than ${mb(max)} of request bodies (watch.gate.max_held_mb); this one was not sent. Try again once an admin resumes it.`;
  }

  private heldTooLong(agentId: string): string {
    return `agent ${agentId} is paused: this call waited ${this.limits.holdMs / 1000} s at its gate (watch.gate.hold_s) and was not sent. Try again once an admin resumes it.`;
  }
}
