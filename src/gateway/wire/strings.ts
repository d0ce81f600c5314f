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
