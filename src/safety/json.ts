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

/** What redacts one string's text, pushed in pieces: a stream redactor or anything like it. */
export interface TextRedactor {
  push(text: string): string;
  end(): string;
}

const SIMPLE: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;
const ESCAPES = /["\\\u0000-\u001f]/g;
const SHORT: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A string's text as it goes inside JSON quotes, one code unit at a time (lone surrogates stay raw). */
function escapeJson(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(ESCAPES, (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const enum At {
  Outside,
  Inside,
  Escape,
  Unicode,
}

/**
 * A JSON document redacted as it streams: text outside strings passes as it came (numbers,
 * names, punctuation); each string's text goes through `open()`'s redactor and comes back escaped.
 * What a string's redactor holds back is held back here too (nothing after it can go first).
 * @example
 *   const r = createJsonStreamRedactor(() => createStreamRedactor());
 *   r.push('{"to":"bob@exa') + r.push('mple.org"}') + r.end() // '{"to":"[EMAIL_REDACTED]"}'
 */
export function createJsonStreamRedactor(open: () => TextRedactor): TextRedactor {
  let at = At.Outside;
  let inner: TextRedactor | null = null;
  let hex = '';
  let ended = false;

  return {
    push(chunk: string): string {
      if (ended || chunk.length === 0) return '';
      let out = '';
      let decoded = ''; // this chunk's text of the current string, not yet given to its redactor
      let from = 0; // start of the run of plain characters (outside, or inside a string) being copied
      const flushRun = (i: number) => {
        if (at === At.Outside) out += chunk.slice(from, i);
        else decoded += chunk.slice(from, i);
      };
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk.charCodeAt(i);
        if (at === At.Outside) {
          if (c !== 0x22) continue;
          out += chunk.slice(from, i + 1);
          from = i + 1;
          at = At.Inside;
          inner = open();
        } else if (at === At.Inside) {
          if (c === 0x22) {
            decoded += chunk.slice(from, i);
            out += escapeJson(inner!.push(decoded) + inner!.end()) + '"';
            decoded = '';
            inner = null;
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
      if (at === At.Outside || at === At.Inside) flushRun(chunk.length);
      if (inner && decoded) out += escapeJson(inner.push(decoded));
      return out;
    },
    end(): string {
      if (ended) return '';
      ended = true;
      // A document cut off inside a string (the model ran out of tokens): what its redactor
      // still holds goes out, redacted; the document was not valid JSON to begin with.
      const rest = inner ? escapeJson(inner.end()) : '';
      inner = null;
      return rest;
    },
  };
}

/**
 * A whole JSON text redacted string by string; the same result as streaming it in any pieces.
 * @example redactJsonText('{"to":"bob@example.org"}', () => createStreamRedactor()) // '{"to":"[EMAIL_REDACTED]"}'
 */
export function redactJsonText(json: string, open: () => TextRedactor): string {
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
