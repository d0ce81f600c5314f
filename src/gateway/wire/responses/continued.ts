// A Responses turn that continued a stored one says which, as OpenAI's answers do: the provider
// was sent the whole context instead of the id, so its answer says `previous_response_id: null`.

/** The events of a Responses stream that carry the response object itself (`response.<kind>`). */
const RESPONSE_KINDS = ['created', 'in_progress', 'queued', 'completed', 'incomplete', 'failed'];
const RESPONSE_TYPES = new Set(RESPONSE_KINDS.map((k) => `response.${k}`));
const RESPONSE_EVENT = new RegExp(`"type":\\s*"response\\.(?:${RESPONSE_KINDS.join('|')})"`);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Sets `previous_response_id` on `response` (a whole answer, or a stream event's `response`) to
 * the stored response the turn continued; true when that changed it. No `previousId`: nothing.
 * @example continued({ id: 'resp_2', previous_response_id: null }, 'resp_1') // true: now 'resp_1'
 */
export function continued(response: unknown, previousId: string | null | undefined): boolean {
  if (!previousId || !isObject(response) || response.previous_response_id === previousId) return false;
  response.previous_response_id = previousId;
  return true;
}

/** Whether a Responses stream event of this `type` carries the response object itself. */
export const carriesResponse = (type: unknown): boolean => typeof type === 'string' && RESPONSE_TYPES.has(type);

/** A Responses stream event's data with `continued` applied to its response, or null when it needs no change. */
export function continuedEvent(data: string, previousId: string | null): string | null {
  if (!previousId || !RESPONSE_EVENT.test(data)) return null;
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return null;
  }
  return isObject(json) && continued(json.response, previousId) ? JSON.stringify(json) : null;
}
