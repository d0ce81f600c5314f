import type { IncomingHttpHeaders } from 'node:http';
import type { CallArgs } from '../domain/policy/index.js';
import { decodeBody, jsonDepth, MAX_JSON_DEPTH } from '../server/index.js';

// A tool-proxy call as the policy reads it: its tool name (the path under the service, decoded
// as the upstream will read it) and its arguments (the body's fields and the query's
// parameters). Read the way an upstream would, so an encoding cannot slip a call past a rule
// written for its plain form: `%73end`, `send;x=1`, `send/` are all `send`, and a body padded,
// compressed, prefixed with a byte-order mark, sent as UTF-16, as a multipart form or as JSON
// under another content type still shows a rule its fields. What the cage cannot read as an
// upstream could is said to be unreadable, never read as no arguments: a rule that tests them
// then fails closed (src/domain/policy/rules.ts).

/** Percent-decoded until stable; a malformed escape stays as it came (the proxy refuses such a path before this). */
function decoded(s: string): string {
  let cur = s;
  for (let i = 0; i < 8 && cur.includes('%'); i++) {
    let next: string;
    try {
      next = decodeURIComponent(cur);
    } catch {
      return cur;
    }
    if (next === cur) break;
    cur = next;
  }
  return cur;
}

/**
 * The tool name of an HTTP call under its service: the path without its query, each segment
 * decoded and cut at `;` (servlet containers drop a segment's parameters), empty segments and
 * the slashes around it dropped.
 * @example toolName('/send/') // 'send'
 * @example toolName('contacts/%34%32;v=1?x=1') // 'contacts/42'
 */
export function toolName(path: string): string {
  const q = path.indexOf('?');
  const p = q < 0 ? path : path.slice(0, q);
  return p
    .split('/')
    .map((seg) => decoded(seg).split(';', 1)[0]!)
    .join('/')
    .split('/')
    .filter((s) => s !== '')
    .join('/');
}

/** Arguments by name, without a prototype: a field named `__proto__` is a field like any other. */
type Fields = Record<string, unknown>;
const fields = (): Fields => Object.create(null) as Fields;

/** Could not be read, and why: said to the agent, in the call's events and to the approver. */
class Unreadable extends Error {}

/** Items of a value given more than once (a list counts as its items: conditions read a list by any item). */
const items = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);

/** `from`'s fields added to `into`; a field in both is a list of both (one upstream reads one, another the other: a rule must see either). */
function merge(into: Fields, from: Fields): void {
  for (const [k, v] of Object.entries(from)) into[k] = Object.hasOwn(into, k) ? [...items(into[k]), ...items(v)] : v;
}

/** An urlencoded text's parameters (a query, a form); one given twice is a list. */
function params(text: string): Fields {
  const out = fields();
  if (text === '') return out;
  for (const [k, v] of new URLSearchParams(text)) merge(out, { [k]: v });
  return out;
}

/** A Content-Type read: its media type and its charset, lower-case; null: none declared. */
function mediaType(header: string | undefined): { type: string; charset: string | null } {
  const [type = '', ...rest] = (header ?? '').split(';');
  let charset: string | null = null;
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    charset = p
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
  }
  return { type: type.trim().toLowerCase(), charset };
}

const isJsonType = (type: string): boolean => type === 'application/json' || type.endsWith('+json');
const FORM = 'application/x-www-form-urlencoded';
const MULTIPART = 'multipart/form-data';

/**
 * The encoding a byte-order mark names, checked longest first (a UTF-32 LE mark begins as
 * UTF-16 LE's does). A mark wins over a declared charset, as it does for every decoder that reads one.
 */
function bomEncoding(b: Buffer): string | null {
  if (b.length >= 4 && b[0] === 0 && b[1] === 0 && b[2] === 0xfe && b[3] === 0xff) return 'utf-32be';
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xfe && b[2] === 0 && b[3] === 0) return 'utf-32le';
  if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return 'utf-8';
  if (b.length >= 2 && b[0] === 0xfe && b[1] === 0xff) return 'utf-16be';
  if (b.length >= 2 && b[0] === 0xff && b[1] === 0xfe) return 'utf-16le';
  return null;
}

/**
 * The encoding a JSON reader that ignores the charset finds (RFC 4627 §3; Python's
 * `json.loads(bytes)`, which Flask and Starlette use): a byte-order mark, else where the first
 * bytes are zero (`{"` in UTF-16 LE is 7B 00 22 00), else UTF-8.
 */
function jsonEncoding(b: Buffer): string {
  const bom = bomEncoding(b);
  if (bom !== null) return bom;
  if (b.length >= 4) {
    if (b[0] === 0) return b[1] !== 0 ? 'utf-16be' : 'utf-32be';
    if (b[1] === 0) return b[2] !== 0 || b[3] !== 0 ? 'utf-16le' : 'utf-32le';
  } else if (b.length === 2) {
    if (b[0] === 0) return 'utf-16be';
    if (b[1] === 0) return 'utf-16le';
  }
  return 'utf-8';
}

/** UTF-32 (which TextDecoder does not read), strictly: a code point outside Unicode, or a surrogate, is unreadable. */
function utf32(b: Buffer, bigEndian: boolean): string {
  if (b.length % 4 !== 0) throw new Unreadable('its UTF-32 body is not whole 4-byte characters');
  const start = b.length >= 4 && (bigEndian ? b.readUInt32BE(0) : b.readUInt32LE(0)) === 0xfeff ? 4 : 0;
  let out = '';
  for (let i = start; i < b.length; i += 4) {
    const cp = bigEndian ? b.readUInt32BE(i) : b.readUInt32LE(i);
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new Unreadable(`its UTF-32 body holds an invalid character (0x${cp.toString(16)})`);
    out += String.fromCodePoint(cp);
  }
  return out;
}

/** Charsets read byte for byte, as Python and Java read them (WHATWG's TextDecoder reads `latin1` as windows-1252). */
const LATIN1 = new Set(['iso-8859-1', 'iso8859-1', 'latin1', 'latin-1', 'l1', 'iso_8859-1', 'cp819']);
const ASCII = new Set(['us-ascii', 'ascii']);

/** Bytes as text in `encoding`, strictly: bytes that are not text in it, or an encoding the cage cannot read, are unreadable. A leading byte-order mark is dropped. */
function decodeText(b: Buffer, encoding: string): string {
  if (encoding === 'utf-32le' || encoding === 'utf-32be' || encoding === 'utf-32') return utf32(b, encoding === 'utf-32be' || (encoding === 'utf-32' && b[0] === 0));
  if (LATIN1.has(encoding)) return b.toString('latin1');
  if (ASCII.has(encoding)) {
    if (b.some((x) => x > 0x7f)) throw new Unreadable('its body declared US-ASCII holds bytes that are not ASCII');
    return b.toString('latin1');
  }
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(encoding, { fatal: true });
  } catch {
    throw new Unreadable(`its body's charset ${encoding} is one the cage cannot read`);
  }
  try {
    return decoder.decode(b);
  } catch {
    throw new Unreadable(`its body is not valid ${decoder.encoding.toUpperCase()} text`);
  }
}

/**
 * JSON text read as any upstream might: a key given twice in one object is a list of both
 * values (one parser keeps the first, another the last). `text` is valid JSON (JSON.parse said
 * so) nested at most MAX_JSON_DEPTH deep, so this walk checks nothing and cannot run out of stack.
 */
function jsonAll(text: string): unknown {
  let i = 0;
  const space = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const string = (): string => {
    const start = i++;
    for (let c = text.charCodeAt(i); c !== 0x22; c = text.charCodeAt(++i)) if (c === 0x5c) i++;
    return JSON.parse(text.slice(start, ++i)) as string;
  };
  const value = (): unknown => {
    space();
    const c = text.charCodeAt(i);
    if (c === 0x22) return string();
    if (c === 0x7b) {
      i++;
      const o = fields();
      space();
      if (text.charCodeAt(i) === 0x7d) {
        i++;
        return o;
      }
      for (;;) {
        space();
        const k = string();
        space();
        i++; // the colon
        merge(o, { [k]: value() });
        space();
        if (text.charCodeAt(i++) === 0x7d) return o;
      }
    }
    if (c === 0x5b) {
      i++;
      const list: unknown[] = [];
      space();
      if (text.charCodeAt(i) === 0x5d) {
        i++;
        return list;
      }
      for (;;) {
        list.push(value());
        space();
        if (text.charCodeAt(i++) === 0x5d) return list;
      }
    }
    const start = i;
    while (i < text.length && !/[\s,\]}]/.test(text[i]!)) i++;
    return JSON.parse(text.slice(start, i)) as unknown;
  };
  return value();
}

/** JSON text's value, or why it is no JSON (the parser's own words, which the caller redacts). */
function json(text: string): { ok: true; value: unknown } | { ok: false; why: string } {
  if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) return { ok: false, why: `its JSON body is nested deeper than ${MAX_JSON_DEPTH} levels` };
  try {
    JSON.parse(text);
  } catch (e) {
    return { ok: false, why: `its JSON body does not parse (${(e as Error).message.slice(0, 200)})` };
  }
  return { ok: true, value: jsonAll(text) };
}

/** A JSON value as fields: an object's own, anything else (a list, text, a number) as `body`. */
const asFields = (v: unknown): Fields => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Fields) : Object.assign(fields(), { body: v }));

/** A multipart form's fields as the upstream's form parser reads them (Node's own); a file is its file name. */
async function multipart(body: Buffer, contentType: string): Promise<Fields> {
  let form: FormData;
  try {
    form = await new Response(new Uint8Array(body), { headers: { 'content-type': contentType } }).formData();
  } catch {
    throw new Unreadable('its multipart/form-data body does not parse');
  }
  const out = fields();
  form.forEach((v, k) => {
    merge(out, { [k]: typeof v === 'string' ? v : v.name });
  });
  return out;
}

/** The body's fields, read as an upstream would; throws Unreadable saying why it cannot be. */
async function bodyFields(raw: Buffer, headers: Pick<IncomingHttpHeaders, 'content-type' | 'content-encoding'>, maxBytes: number): Promise<Fields> {
  let body: Buffer;
  try {
    const d = decodeBody(raw, headers, maxBytes);
    if (d.unreadable !== null) throw new Unreadable(`its body's Content-Encoding ${d.unreadable} is one the cage cannot undo`);
    body = d.body;
  } catch (e) {
    if (e instanceof Unreadable) throw e;
    const coding = String(headers['content-encoding'] ?? '')
      .trim()
      .slice(0, 100);
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new Unreadable(`its ${coding} body decompresses to more than ${maxBytes / (1024 * 1024)} MB`);
    throw new Unreadable(`its ${coding} body does not decompress`);
  }
  if (body.length === 0) return fields();
  const { type, charset } = mediaType(headers['content-type']);
  if (type === MULTIPART) return multipart(body, headers['content-type']!);

  // The text as declared (a byte-order mark, else the charset, else UTF-8). When something says
  // the body is text (a mark, a charset, a text, JSON or form type) and it is not text that way,
  // or in an encoding the cage cannot read, it is unreadable: an upstream reading it so would
  // read what the cage cannot.
  const bom = bomEncoding(body);
  const declaredAs = bom ?? charset ?? 'utf-8';
  let text: string | null = null;
  try {
    text = decodeText(body, declaredAs);
  } catch (e) {
    if (!(e instanceof Unreadable)) throw e;
    if (bom !== null || charset !== null || type === FORM || isJsonType(type) || type.startsWith('text/')) throw e;
  }
  // And as a JSON reader that ignores the charset finds it: every reading that is JSON counts.
  const readings = text === null ? [] : [text];
  const detected = jsonEncoding(body);
  if (detected !== declaredAs) {
    try {
      const other = decodeText(body, detected);
      if (other !== text) readings.push(other);
    } catch {
      // Not text that way either: the declared reading stands alone.
    }
  }
  const out = fields();
  let jsonWhy: string | null = null;
  let isJson = false;
  for (const t of readings) {
    const j = json(t);
    if (j.ok) {
      merge(out, asFields(j.value));
      isJson = true;
    } else jsonWhy ??= j.why;
  }
  if (type === FORM) merge(out, params(text!));
  else if (isJsonType(type) && !isJson) throw new Unreadable(jsonWhy!);
  // Text that is neither JSON nor a form is `body`; bytes that are no text (an image) are no arguments.
  else if (!isJson && text !== null) out.body = text;
  return out;
}

/**
 * An HTTP call's arguments as its upstream would read them: the body the proxy forwards (read
 * to the same limit; `maxBytes` also caps what it decompresses to), its Content-Encoding undone,
 * decoded by its byte-order mark or charset, its fields read as JSON whatever the content type
 * says (many servers call `request.json()` regardless; JSON that is not an object is `body`), as
 * an urlencoded or multipart form, else the text as `body`; then the query's parameters. A field
 * given twice (in the body and the query, twice in the query, a JSON key written twice) is a
 * list of both. A body present that cannot be read is `readable: false`, saying why.
 *
 * @example await httpArgs('to=a%40b.c', Buffer.from('{"to":"x@y.z"}'), { 'content-type': 'text/plain' }, 5 << 20) // { readable: true, value: { to: ['x@y.z', 'a@b.c'] } }
 * @example await httpArgs('', Buffer.from('{"to":'), { 'content-type': 'application/json' }, 5 << 20) // { readable: false, why: 'its JSON body does not parse (…)' }
 */
export async function httpArgs(query: string, body: Buffer | null, headers: Pick<IncomingHttpHeaders, 'content-type' | 'content-encoding'>, maxBytes: number): Promise<CallArgs> {
  const args = fields();
  if (body !== null && body.length > 0) {
    try {
      merge(args, await bodyFields(body, headers, maxBytes));
    } catch (e) {
      if (e instanceof Unreadable) return { readable: false, why: e.message };
      throw e;
    }
  }
  merge(args, params(query));
  return { readable: true, value: args };
}
