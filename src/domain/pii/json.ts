// JSON-aware redaction: tool-call arguments are JSON documents, whole or streamed in pieces
// cut anywhere (inside a string, inside an escape). Redacting the raw text would scan escapes
// (`\n` glued to a value) and could break the document; here the text of every string (keys
// and values alike: a key can hold a value too) goes through a text redactor of its own, and
// is written back with JSON's escapes, so the output is valid JSON whenever the input is.
//
// Split-independence: each string's redactor sees the same decoded text whatever the chunking
// (its own output is split-independent), and strings are re-escaped one code unit at a time, so
// the concatenated output is the same for every split. Escapes come out canonical (`\u0041`
// becomes `A`): the same JSON value, not always the same bytes.
//
// Context: a value is scanned after its key (`phone: 4155550123`), so the detectors' context
// rules see what a field is called, as they would in prose; the key's own text is then dropped
// from what comes out. A key is split into its words (`phoneNumber`, `ssn_number`, `phone1` say
// "phone number", "ssn number", "phone"). Numbers are values too (`{"ssn": 123456789}`): one
// that holds PII becomes the redaction as a JSON string. Text that is neither a string, a number
// nor true/false/null (`{"to": bob@example.org}`, `{'to': 'bob@example.org'}`, a bare
// `bob@example.org`) is not JSON, but a model writes it: each such run is scanned as a value too.

import { foldText } from './normalize.js';

/** What redacts one string's text, pushed in pieces: a stream redactor or anything like it. */
export interface TextRedactor {
  push(text: string): string;
  end(): string;
}

/**
 * Opens the redactor of one string. `context` is how many characters of key context are pushed
 * before the string's own text: offsets its findings report are that much too far right.
 */
export type OpenRedactor = (context: number) => TextRedactor;

/** What each one-letter JSON escape (`\n`, `\"`…) stands for. */
export const SIMPLE: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;
const ESCAPES = /["\\\u0000-\u001f]/g;
const SHORT: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * A string's text as it goes inside JSON quotes, one code unit at a time (lone surrogates stay raw).
 * @example escapeJson('a"b\n') // 'a\\"b\\n'
 */
export function escapeJson(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(ESCAPES, (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const enum At {
  Outside,
  Inside,
  Escape,
  Unicode,
  Number,
  Bare,
}

/** A key that can only name a field (letters, digits and separators): safe to scan in front of its value. */
const PLAIN_KEY = /^[A-Za-z][A-Za-z0-9 _.-]{0,39}$/;
const NUMBER_CHAR = /[0-9.eE+-]/;
const MAX_KEY = 40;
/** What ends a run of bare text outside strings: JSON's punctuation. */
const BARE_END = /[{}[\],:"]/;
const LITERAL = /^\s*(true|false|null)?\s*$/;
const WHITESPACE = /\s/;

/**
 * A key as the words a detector's context rule looks for: `phoneNumber`, `mobile_phone`,
 * `ssn-number`, `phone1` become "phone number", "mobile phone", "ssn number", "phone"; null for
 * a key that is not a field name (it may hold a value itself).
 * @example keyWords('social_security_number') // 'social security number'
 */
export function keyWords(key: string): string | null {
  // A key says what its value is in any disguise: `ｐｈｏｎｅ`, `s\u200bsn`.
  const name = foldText(key);
  if (!PLAIN_KEY.test(name)) return null;
  const words = name
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[\s_.\-0-9]+/)
    .filter((w) => w.length > 0);
  return words.length > 0 ? words.join(' ').toLowerCase() : null;
}

/** `inner` fed `context` first; what that context comes out as is dropped from the output. */
function afterContext(inner: TextRedactor, context: string): TextRedactor {
  let drop = context.length;
  const trim = (out: string): string => {
    if (drop === 0 || out.length === 0) return out;
    const cut = Math.min(drop, out.length);
    drop -= cut;
    return out.slice(cut);
  };
  // Whatever of the context is not dropped (it came out changed) goes in front of the first output.
  let pending = trim(inner.push(context));
  const emit = (out: string): string => {
    const text = pending + trim(out);
    pending = '';
    return text;
  };
  return { push: (t) => emit(inner.push(t)), end: () => emit(inner.end()) };
}

/**
 * A JSON document redacted as it streams: text outside strings passes as it came (names,
 * punctuation, numbers without PII); each string's text goes through `open()`'s redactor, after
 * its key as context, and comes back escaped. What a string's redactor holds back is held back
 * here too (nothing after it can go first).
 * @example
 *   const r = createJsonStreamRedactor(() => createStreamRedactor());
 *   r.push('{"to":"bob@exa') + r.push('mple.org"}') + r.end() // '{"to":"[EMAIL_REDACTED]"}'
 */
export function createJsonStreamRedactor(open: OpenRedactor): TextRedactor {
  let at = At.Outside;
  let inner: TextRedactor | null = null;
  let hex = '';
  let ended = false;
  // The key that names what comes next, per open object/array (an array's items share its key).
  let key: string | null = null;
  const keys: Array<string | null> = [];
  const objects: boolean[] = []; // per open container: an object (true) or an array
  // The text of the string just closed (a key if a colon follows), bounded.
  let lastString = '';
  let collecting = '';
  let num = '';
  let bare = '';

  const openString = (): TextRedactor => {
    if (key === null) return open(0);
    const context = `${key}: `;
    return afterContext(open(context.length), context);
  };
  /** A finished run of bare text: true/false/null pass, anything else is scanned as a value. */
  const closeBare = (): string => {
    const b = bare;
    bare = '';
    // A single-quoted name (`{'to': …}`) names what follows, as a JSON key would.
    lastString = b
      .trim()
      .replace(/^'(.*)'$/, '$1')
      .slice(0, MAX_KEY + 1);
    if (LITERAL.test(b)) return b;
    const r = openString();
    return r.push(b) + r.end();
  };
  /** A finished number: as it came, or (if it holds PII) the redaction as a string. */
  const closeNumber = (): string => {
    const n = num;
    num = '';
    const r = openString();
    const out = r.push(n) + r.end();
    return out === n ? n : `"${escapeJson(out)}"`;
  };
  const keep = (text: string) => {
    if (collecting.length < MAX_KEY + 1) collecting += text.slice(0, MAX_KEY + 1 - collecting.length);
  };
  /** Structure outside strings: track which key names the next value. */
  const structure = (c: number) => {
    if (c === 0x3a) key = keyWords(lastString);
    else if (c === 0x7b || c === 0x5b) {
      keys.push(key);
      objects.push(c === 0x7b);
      // An object's first string is a key: no field names it.
      if (c === 0x7b) key = null;
    } else if (c === 0x7d || c === 0x5d) {
      key = keys.pop() ?? null;
      objects.pop();
    } else if (c === 0x2c && objects[objects.length - 1] === true) key = null;
  };

  return {
    push(chunk: string): string {
      if (ended || chunk.length === 0) return '';
      let out = '';
      let decoded = ''; // this chunk's text of the current string, not yet given to its redactor
      let from = 0; // start of the run of plain characters (outside, or inside a string) being copied
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk.charCodeAt(i);
        if (at === At.Bare) {
          if (!BARE_END.test(chunk[i]!)) {
            bare += chunk[i];
            continue;
          }
          out += closeBare();
          at = At.Outside;
          from = i;
        }
        if (at === At.Number) {
          if (NUMBER_CHAR.test(chunk[i]!)) {
            num += chunk[i];
            continue;
          }
          out += closeNumber();
          at = At.Outside;
          from = i;
        }
        if (at === At.Outside) {
          if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
            out += chunk.slice(from, i);
            num = chunk[i]!;
            at = At.Number;
            continue;
          }
          if (c !== 0x22) {
            if (BARE_END.test(chunk[i]!) || WHITESPACE.test(chunk[i]!)) structure(c);
            else {
              out += chunk.slice(from, i);
              bare = chunk[i]!;
              at = At.Bare;
            }
            continue;
          }
          out += chunk.slice(from, i + 1);
          from = i + 1;
          at = At.Inside;
          collecting = '';
          inner = openString();
        } else if (at === At.Inside) {
          if (c === 0x22) {
            const text = decoded + chunk.slice(from, i);
            keep(text);
            out += `${escapeJson(inner!.push(text) + inner!.end())}"`;
            decoded = '';
            inner = null;
            lastString = collecting;
            at = At.Outside;
            from = i + 1;
          } else if (c === 0x5c) {
            decoded += chunk.slice(from, i);
            at = At.Escape;
          }
        } else if (at === At.Escape) {
          const ch = chunk[i]!;
          if (ch === 'u') {
            at = At.Unicode;
            hex = '';
          } else {
            // An escape JSON does not have is malformed input: its character stands for itself.
            decoded += SIMPLE[ch] ?? ch;
            at = At.Inside;
            from = i + 1;
          }
        } else {
          hex += chunk[i];
          if (hex.length === 4) {
            const code = /^[0-9a-fA-F]{4}$/.test(hex) ? parseInt(hex, 16) : NaN;
            decoded += Number.isNaN(code) ? hex : String.fromCharCode(code);
            at = At.Inside;
            from = i + 1;
          }
        }
      }
      if (at === At.Outside) out += chunk.slice(from);
      else if (at === At.Inside) decoded += chunk.slice(from);
      if (inner && decoded) {
        keep(decoded);
        out += escapeJson(inner.push(decoded));
      }
      return out;
    },
    end(): string {
      if (ended) return '';
      ended = true;
      // A document cut off inside a string (the model ran out of tokens): what its redactor
      // still holds goes out, redacted; the document was not valid JSON to begin with.
      const rest = at === At.Number ? closeNumber() : at === At.Bare ? closeBare() : inner ? escapeJson(inner.end()) : '';
      inner = null;
      return rest;
    },
  };
}

/**
 * A whole JSON text redacted string by string; the same result as streaming it in any pieces.
 * @example redactJsonText('{"to":"bob@example.org"}', () => createStreamRedactor()) // '{"to":"[EMAIL_REDACTED]"}'
 */
export function redactJsonText(json: string, open: OpenRedactor): string {
  const r = createJsonStreamRedactor(open);
  return r.push(json) + r.end();
}

/**
 * A parsed JSON value with every string in it (keys too) passed through `fn`; a new value.
 * @example mapJsonStrings({ to: ['bob@example.org'] }, (s) => s.toUpperCase()) // { TO: ['BOB@EXAMPLE.ORG'] }
 */
export function mapJsonStrings(value: unknown, fn: (s: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapJsonStrings(v, fn));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[fn(k)] = mapJsonStrings(v, fn);
    return out;
  }
  return value;
}
