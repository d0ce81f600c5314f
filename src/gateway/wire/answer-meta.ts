import type { ObservedAnswer } from '../../observability/index.js';

/**
 * What an answer says about itself, on any wire: its id, the model that produced it and why each
 * output stopped (chat and completions: each choice's `finish_reason`; Messages: `stop_reason`;
 * Responses: its `status`, or why it is incomplete). For metrics and traces only: nothing here
 * decides anything about the call.
 *
 * @example
 *   answerMeta({ id: 'chatcmpl-1', model: 'gpt-4o-2024-08-06', choices: [{ finish_reason: 'stop' }] })
 *   // { id: 'chatcmpl-1', model: 'gpt-4o-2024-08-06', finishReasons: ['stop'] }
 */
export function answerMeta(json: unknown): ObservedAnswer {
  const a = (json ?? {}) as Record<string, unknown>;
  const out: ObservedAnswer = {};
  if (typeof a.id === 'string') out.id = a.id.slice(0, 200);
  if (typeof a.model === 'string') out.model = a.model.slice(0, 200);
  const reasons: string[] = [];
  if (Array.isArray(a.choices)) for (const c of a.choices) if (c && typeof c.finish_reason === 'string') reasons.push(c.finish_reason);
  if (typeof a.stop_reason === 'string') reasons.push(a.stop_reason);
  if (a.object === 'response' && typeof a.status === 'string') {
    const why = (a.incomplete_details as { reason?: unknown } | null | undefined)?.reason;
    reasons.push(typeof why === 'string' ? why : a.status);
  }
  if (reasons.length > 0) out.finishReasons = reasons;
  return out;
}
