import type { PromptParts } from '../core/prompt.js';
import { CHAIN_MAX_CHARS, lastResultName, stepOf } from '../domain/budget/index.js';
import type { ObservedToolCall } from '../observability/index.js';
import type { StateManager } from '../state/index.js';

/** Where a call belongs, fixed when it starts: its row's `step` and `chain`. */
export interface CallMark {
  step: number | null;
  chain: string | null;
}

/**
 * What the cost per step is grouped by, decided as each LLM call starts: the agent's step (its
 * progress) and the chain (the function whose result the request carries last, else the last
 * tool-proxy service it called since its previous LLM call). Told of tool calls as an observer
 * of the tool proxy; one map entry per agent, O(1) per call.
 */
export class StepMarks {
  private readonly lastTool = new Map<string, string>();

  constructor(private readonly state: Pick<StateManager, 'progressOf'>) {}

  /** The tool proxy answered a call of the agent's (observer of the tool proxy). */
  toolCall(c: Pick<ObservedToolCall, 'row'>): void {
    const { agentId, service } = c.row;
    if (agentId) this.lastTool.set(agentId, service.slice(0, CHAIN_MAX_CHARS));
  }

  /** An LLM call of the agent starts with this prompt: its step and chain (the tool mark is used up). */
  mark(agentId: string, prompt: Pick<PromptParts, 'messages'>): CallMark {
    const tool = this.lastTool.get(agentId) ?? null;
    if (tool !== null) this.lastTool.delete(agentId);
    return { step: stepOf(this.state.progressOf(agentId)), chain: lastResultName(prompt) ?? tool };
  }

  /** The agent's run ended: nothing is kept for it. */
  forget(agentId: string): void {
    this.lastTool.delete(agentId);
  }
}
