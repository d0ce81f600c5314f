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

/**
 * What a stream's event says of its answer, added to `into`: the id and model of the first chunk
 * that names them (chat, completions; Anthropic's `message_start`), each choice's finish reason,
 * Anthropic's `stop_reason` (`message_delta`), a Responses stream's final response. Only events
 * the relay parses anyway are read (a text-only chat chunk is not, but the chunk that finishes
 * each choice is), so it costs a few property reads per parsed event.
 *
 * @example
 *   const a = {};
 *   streamAnswerMeta(a, { id: 'chatcmpl-1', model: 'gpt-4o', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
 *   // a: { id: 'chatcmpl-1', model: 'gpt-4o', finishReasons: ['stop'] }
 */
export function streamAnswerMeta(into: ObservedAnswer, json: any): void {
  if (!json || typeof json !== 'object') return;
  if (Array.isArray(json.choices)) {
    if (into.id === undefined && typeof json.id === 'string') into.id = json.id.slice(0, 200);
    if (into.model === undefined && typeof json.model === 'string') into.model = json.model.slice(0, 200);
    for (const c of json.choices) {
      if (typeof c?.finish_reason !== 'string') continue;
      const reasons = (into.finishReasons ??= []);
      const i = typeof c.index === 'number' && c.index >= 0 && c.index < 128 ? c.index : reasons.length;
      reasons[i] = c.finish_reason;
    }
    return;
  }
  switch (json.type) {
    case 'message_start': {
      const m = json.message;
      if (typeof m?.id === 'string') into.id = m.id.slice(0, 200);
      if (typeof m?.model === 'string') into.model = m.model.slice(0, 200);
      return;
    }
    case 'message_delta':
      if (typeof json.delta?.stop_reason === 'string') into.finishReasons = [json.delta.stop_reason];
      return;
    case 'response.completed':
    case 'response.incomplete':
    case 'response.failed':
      Object.assign(into, answerMeta(json.response));
      return;
    default:
      return;
  }
}
