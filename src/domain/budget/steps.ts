import type { PromptPart, PromptParts } from '../../core/prompt.js';
import { singularUnit } from './format.js';

// Cost per step: which unit of the agent's work a call belongs to, and which tool led to it.
// Pure: read from the agent's progress and the request's prompt (in no provider's format).

/** A chain's name is kept to this many characters. */
export const CHAIN_MAX_CHARS = 128;

/**
 * The step a call starting now belongs to: the unit being worked on, the progress `done` + 1;
 * null before the agent reported any progress (a progress of 0 done, no total and the default
 * unit reads as none).
 */
export function stepOf(progress: { done: number; total: number | null; unit: string } | null | undefined): number | null {
  if (!progress) return null;
  if (progress.done <= 0 && progress.total === null && progress.unit === 'items') return null;
  return Math.max(0, Math.floor(progress.done)) + 1;
}

function lastResultIn(parts: readonly PromptPart[]): string | null {
  for (let i = parts.length - 1; i >= 0; i--) {
    const p = parts[i]!;
    if (p.type === 'result') return p.callId;
  }
  return null;
}

/**
 * The function whose result the request carries last (a `tool` message, or a result block), by
 * the name of the call it answers; null when it carries none, or the call is not in the request.
 */
export function lastResultName(prompt: Pick<PromptParts, 'messages'>): string | null {
  const msgs = prompt.messages;
  let callId: string | null = null;
  let at = -1;
  for (let i = msgs.length - 1; i >= 0 && callId === null; i--) {
    const m = msgs[i]!;
    callId = m.role === 'tool' && m.callId ? m.callId : lastResultIn(m.parts);
    at = i;
  }
  if (callId === null) return null;
  for (let i = at; i >= 0; i--) {
    for (const p of msgs[i]!.parts) if (p.type === 'call' && p.id === callId && p.name) return p.name.slice(0, CHAIN_MAX_CHARS);
  }
  return null;
}

/** A unit said with its step: `lead 38` (units are plural nouns: `leads`). */
export function stepLabel(unit: string, step: number): string {
  return `${singularUnit(unit)} ${step}`;
}
