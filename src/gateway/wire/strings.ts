import type { TextSlot } from './types.js';

/**
 * Fields that only say what something is or where it sits (ids, types, roles, positions,
 * opaque signatures): never output text, never scanned.
 */
const STRUCTURAL = new Set([
  'id', 'type', 'object', 'model', 'role', 'status', 'call_id', 'item_id', 'tool_use_id', 'index', 'output_index',
  'content_index', 'summary_index', 'sequence_number', 'created', 'created_at', 'finish_reason', 'stop_reason',
  'signature', 'encrypted_content', 'system_fingerprint', 'service_tier', 'obfuscation', 'code', 'param', 'usage', 'logprobs',
]);

let serial = 0;

/**
 * One whole text as a slot with a key of its own (scanned once, in one piece, by a stream relay).
 * @example wholeSlot(0, 'bob@example.org', (t) => (item.name = t)).key // 's17'
 */
export function wholeSlot(index: number, text: string, set: (t: string) => void): TextSlot {
  return { index, key: `s${serial++}`, text, set };
}

/**
 * Every string in `value` outside structural fields, as whole-text slots of output `index`:
 * the class of output a wire does not know the shape of (a new block, event or item type, an
 * error in the middle of a stream). Each gets a key of its own, so a stream relay scans it once,
 * in one piece, as a `final`. `skip`: fields of `value` itself a caller reads otherwise.
 * @example
 *   const out: TextSlot[] = [];
 *   otherStrings({ type: 'thinking', thinking: 'user is bob@example.org' }, 0, out);
 *   out.map((s) => s.text) // ['user is bob@example.org']
 */
export function otherStrings(value: unknown, index: number, out: TextSlot[], skip: readonly string[] = []): TextSlot[] {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (typeof v === 'string') out.push(wholeSlot(index, v, (t) => (value[i] = t)));
      else otherStrings(v, index, out);
    });
  } else if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    for (const [k, v] of Object.entries(o)) {
      if (STRUCTURAL.has(k) || skip.includes(k)) continue;
      if (typeof v === 'string') {
        if (v) out.push(wholeSlot(index, v, (t) => (o[k] = t)));
      } else otherStrings(v, index, out);
    }
  }
  return out;
}

/** A `logprobs` member holding tokens (`"logprobs":[{` or `"logprobs":{`), told from the raw text before any parse. */
const TOKENS_IN_LOGPROBS = /"logprobs"\s*:\s*(?:\{|\[\s*[^\s\]])/;

/** Whether `raw` JSON may carry token log-probabilities (see withholdLogprobs). */
export function carriesLogprobs(raw: string): boolean {
  return TOKENS_IN_LOGPROBS.test(raw);
}

/**
 * Empty every `logprobs` member in `value` (an array becomes `[]`, anything else `null`): chat
 * and completions choices, Responses text parts and deltas alike. Their tokens would spell out
 * what redaction replaced. Returns whether anything changed.
 * @example
 *   const c = { choices: [{ logprobs: { content: [{ token: 'bob' }] } }] };
 *   withholdLogprobs(c); // true; c.choices[0].logprobs === null
 */
export function withholdLogprobs(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  let changed = false;
  if (Array.isArray(value)) {
    for (const v of value) changed = withholdLogprobs(v) || changed;
    return changed;
  }
  const o = value as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) {
    if (k === 'logprobs') {
      const empty = Array.isArray(v) ? v.length === 0 : v === null || v === undefined;
      if (!empty) {
        o[k] = Array.isArray(v) ? [] : null;
        changed = true;
      }
    } else changed = withholdLogprobs(v) || changed;
  }
  return changed;
}
