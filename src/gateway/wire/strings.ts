import type { TextSlot } from './types.js';

/**
 * Fields that only say what something is or where it sits (ids, types, roles, positions,
 * opaque signatures): never output text, never scanned.
 */
const STRUCTURAL = new Set([
  'id',
  'type',
  'object',
  'model',
  'role',
  'status',
  'call_id',
  'item_id',
  'tool_use_id',
  'index',
  'output_index',
  'content_index',
  'summary_index',
  'sequence_number',
  'created',
  'created_at',
  'finish_reason',
  'stop_reason',
  'signature',
  'encrypted_content',
  'system_fingerprint',
  'service_tier',
  'obfuscation',
  'code',
  'param',
  'usage',
  'logprobs',
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

/**
 * A `logprobs` member holding tokens (`"logprobs":[{` or `"logprobs":{`), told from the raw text
 * before any parse; any escape may spell the key otherwise, so it counts too.
 */
const TOKENS_IN_LOGPROBS = /"logprobs"\s*:\s*(?:\{|\[\s*[^\s\]])/;

/**
 * Whether `raw` JSON may carry token log-probabilities (see withholdLogprobs). The escape is
 * looked for apart: a pattern that begins with one literal lets the regex engine skip to its
 * candidates, where the alternation `…|\\u` read every character (a final event is ~1 KB).
 */
export function carriesLogprobs(raw: string): boolean {
  return raw.includes('\\u') || TOKENS_IN_LOGPROBS.test(raw);
}

/**
 * A `logprobs` member whose value is neither `null` nor `[]` (the whitespace before the value
 * taken whole, so it cannot be read as the value), or an escape that may spell the key.
 */
const LOGPROBS_HOLDING = /"logprobs"\s*:(?=(\s*))\1(?!null|\[\s*\])/;

/**
 * Whether `withholdLogprobs` could change the JSON `raw` is the text of: false only when no
 * `logprobs` member in it holds anything, so the walk over the parsed event can be skipped (a
 * Responses stream's every delta carries `"logprobs":[]`).
 */
export function mayHoldLogprobs(raw: string): boolean {
  return raw.includes('\\u') || LOGPROBS_HOLDING.test(raw);
}

/** Empty `o.logprobs` (an array becomes `[]`, anything else `null`); whether it held anything. */
function blank(o: unknown): boolean {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return false;
  const r = o as Record<string, unknown>;
  const v = r.logprobs;
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) return false;
  r.logprobs = Array.isArray(v) ? [] : null;
  return true;
}

/**
 * Empty the token log-probabilities of the output in `json`: chat and completions choices
 * (whole and chunks), and Responses text parts, deltas, done events, items and the completed
 * response. Their tokens would spell out what redaction replaced. Other `logprobs` members (a
 * tool's parameter schema echoed back) stay. `everywhere`: every `logprobs` member at any
 * depth (an answer of a shape no wire knows). Returns whether anything changed.
 * @example
 *   const c = { choices: [{ logprobs: { content: [{ token: 'bob' }] } }] };
 *   withholdLogprobs(c); // true; c.choices[0].logprobs === null
 */
export function withholdLogprobs(json: any, everywhere = false): boolean {
  if (json === null || typeof json !== 'object') return false;
  let changed = false;
  if (everywhere) {
    for (const v of Array.isArray(json) ? json : Object.values(json)) changed = withholdLogprobs(v, true) || changed;
    return blank(json) || changed;
  }
  const parts = (item: any) => (item && Array.isArray(item.content) ? item.content : []);
  const holders = [
    json,
    json.part,
    ...(Array.isArray(json.choices) ? json.choices : []),
    ...parts(json.item),
    ...(Array.isArray(json.output) ? json.output.flatMap(parts) : []),
    ...(Array.isArray(json.response?.output) ? json.response.output.flatMap(parts) : []),
  ];
  for (const h of holders) changed = blank(h) || changed;
  return changed;
}
