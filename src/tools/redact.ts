import { isUtf8 } from 'node:buffer';
import { jsonTexts, mayHoldPii, redact, type JsonTexts, type RedactOptions, type SafetyMode, type ScanOptions } from '../domain/pii/index.js';

/** Why an answer must not reach the agent (the proxy answers 403 with it: `code`, pii_blocked unless said). */
export type Blocked = { message: string; types: string[] | null; code?: 'pii_blocked' | 'injection_blocked' };

export interface RedactedBody {
  body: Buffer;
  /** Findings of the PII scanner (replaced in `redact` mode, counted only in `warn`). */
  redactions: number;
  /** Set when the policy says the answer must not reach the agent at all: why. */
  blocked: Blocked | null;
}

export interface RedactedHeaders {
  headers: Record<string, string | string[]>;
  redactions: number;
  blocked: Blocked | null;
}

/**
 * The PII step for a tool's answer. The proxy calls it once per live answer, before the answer
 * is cached, so neither the agent nor the cache sees what the policy removes. ToolsOptions can
 * replace it.
 */
export type ResponseRedactor = (body: Buffer, contentType: string | undefined, agentId: string | null) => RedactedBody;

/** The same step for the response headers forwarded to the agent. */
export type HeaderRedactor = (headers: Record<string, string | string[]>, agentId: string | null) => RedactedHeaders;

/**
 * The runtime's PII engine (src/pii/protection.ts PiiProtection) as the proxy uses it:
 * scan, apply the policy, and write the audit trail and the `pii.detected` event itself.
 * `options` are its detector settings (allowed domains, regions), also used for the call records.
 */
export interface ToolPiiGuard {
  /** `context`: characters of key context in front of a JSON value, so audit offsets point into the value. */
  inspect(agentId: string | null, location: 'tool.response', text: string, requestRef?: string | null, context?: number): { text: string; redactions: number; block: string | null };
  /** An answer the scan cannot read (`what` it is): why it is refused, or null where the policy lets it pass. Announced unless the location is off. */
  unreadable(agentId: string | null, location: 'tool.response', what: string, requestRef: string | null): string | null;
  /**
   * The detector settings `inspect` scans `tool.response` with. A JSON answer's values are first
   * scanned together with these, and only those that may hold PII are shown to `inspect`, so
   * they must find at least what `inspect` would (without them, every value is shown).
   */
  readonly options?: RedactOptions;
}

/** One text through a PII policy; `ref` says where it was (the service, a header). */
type TextScan = (text: string, agentId: string | null, ref: string, context?: number) => { text: string; redactions: number; blocked: Blocked | null };

const TEXTUAL = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded|x-ndjson|ld\+json|problem\+json|yaml|x-yaml)|application\/[\w.+-]+\+(json|xml|yaml))/i;
/** Single-byte charsets whose bytes all survive a latin1 round trip. */
const LATIN = /^(iso-8859-1|latin1|l1|us-ascii|ascii|windows-1252|cp1252)$/i;
const CHARSET = /;\s*charset\s*=\s*"?([\w.:-]+)"?/i;

/**
 * How a body is read as text for the scan, whatever its declared type (YAML, octet-stream,
 * none at all): valid UTF-8 is text. A declared Latin charset, or a declared text type that is
 * not valid UTF-8, is read byte for byte (latin1), so every byte the scan does not replace goes
 * back exactly as it came. NUL bytes in the pattern of UTF-16 text are that (see utf16Of);
 * otherwise a NUL is one more character of the text, read by the same rules: valid UTF-8 with a
 * NUL in it is text (a NUL inside a value must not make an answer pass unscanned), and bytes
 * that are not (a PNG, gzip) are binary unless declared text.
 */
function encodingOf(body: Buffer, contentType: string | undefined): Encoding | null {
  const wide = body.includes(0) ? utf16Of(body) : null;
  if (wide !== null) return wide;
  const type = contentType?.trim() ?? '';
  const charset = CHARSET.exec(type)?.[1];
  if (charset !== undefined && LATIN.test(charset)) return 'latin1';
  if (isUtf8(body)) return 'utf8';
  return TEXTUAL.test(type) ? 'latin1' : null;
}

type Encoding = 'utf8' | 'latin1' | 'utf16le' | 'utf16be';

/**
 * UTF-16 text (Windows tools write it): a byte-order mark, or the NUL of every other byte that
 * mostly-ASCII text has in one half and never in the other; null for anything else.
 */
function utf16Of(body: Buffer): Encoding | null {
  if (body.length % 2 !== 0 || body.length < 4) return null;
  if (body[0] === 0xff && body[1] === 0xfe) return 'utf16le';
  if (body[0] === 0xfe && body[1] === 0xff) return 'utf16be';
  let even = 0;
  let odd = 0;
  for (let i = 0; i < body.length; i += 2) {
    if (body[i] === 0) even++;
    if (body[i + 1] === 0) odd++;
  }
  const half = body.length / 2;
  if (even === 0 && odd >= half * 0.9) return 'utf16le';
  if (odd === 0 && even >= half * 0.9) return 'utf16be';
  return null;
}

function decodeText(body: Buffer, encoding: Encoding): string {
  return encoding === 'utf16be' ? Buffer.from(body).swap16().toString('utf16le') : body.toString(encoding);
}

function encodeText(text: string, encoding: Encoding): Buffer {
  return encoding === 'utf16be' ? Buffer.from(text, 'utf16le').swap16() : Buffer.from(text, encoding);
}

const CLEAN = (body: Buffer): RedactedBody => ({ body, redactions: 0, blocked: null });

const JSON_TYPE = /^application\/([\w.+-]+\+)?(json|x-ndjson|ndjson|jsonl|json-seq)\b/i;

/**
 * A body as its form says: a JSON document value by value (decoded, each value after its key,
 * re-escaped: the answer stays valid JSON), NDJSON line by line, anything else as text. Raw
 * text scanning would read `\n` glued to a value, miss `bob\u0040example.org` and could cut
 * a multi-byte address in a way that breaks the document.
 *
 * A list answer holds thousands of short values: they are scanned together first (mayHoldPii),
 * and only those that may hold PII go through `scan` one by one, as before (audit offsets,
 * findings and events unchanged). `detectors`: the scan's detector settings; null when unknown
 * (every value is scanned alone).
 */
function scanBody(scan: TextScan, detectors: ScanOptions | null, text: string, contentType: string, agentId: string | null, ref: string): ReturnType<TextScan> {
  // A byte-order mark in front (Windows tools write one) is no reason to read JSON as raw text.
  const bom = text.charCodeAt(0) === 0xfeff ? '\ufeff' : '';
  const body = bom ? text.slice(1) : text;
  const doc = jsonTexts(body);
  let parts: Array<JsonTexts | string>;
  if (doc !== null) parts = [doc];
  else if (JSON_TYPE.test(contentType)) parts = body.split('\n').map((line) => jsonTexts(line) ?? line);
  else return scan(text, agentId, ref);
  const { distinct, contexts, ids, lines } = gather(parts);
  const may = detectors === null ? null : mayHoldPii(distinct, detectors);
  const outputs = new Array<string | undefined>(ids.length); // holey: most stay unset
  let redactions = 0;
  let blocked: Blocked | null = null;
  let changed = false;
  // Each value on its own, in document order (the guard audits each), where its text may hold PII.
  for (let k = 0; k < ids.length; k++) {
    const id = ids[k]!;
    if (may !== null && !may[id]) continue;
    const r = scan(distinct[id]!, agentId, ref, contexts[id]);
    redactions += r.redactions;
    blocked ??= r.blocked;
    if (r.text !== distinct[id]) (outputs[k] = r.text), (changed = true);
  }
  // Nothing replaced (warn mode, or no finding): the bytes as they came, escapes and all.
  if (!changed) return { text, redactions, blocked };
  const out = parts.map((p, n) => {
    const [from, to] = [lines[n]!, lines[n + 1]!];
    return typeof p === 'string' ? (outputs[from] ?? p) : p.rebuild(outputs.slice(from, to));
  });
  return { text: bom + out.join('\n'), redactions, blocked };
}

/**
 * A body's texts, line after line (a JSON line's distinct texts, another line whole), the
 * values' indexes among them, and where each line's values start.
 */
function gather(parts: ReadonlyArray<JsonTexts | string>): { distinct: readonly string[]; contexts: readonly number[]; ids: ArrayLike<number>; lines: number[] } {
  const only = parts[0]!;
  if (parts.length === 1 && typeof only !== 'string') return { ...only, lines: [0, only.ids.length] };
  const distinct: string[] = [];
  const contexts: number[] = [];
  const ids: number[] = [];
  const lines = [0];
  for (const p of parts) {
    const base = distinct.length;
    if (typeof p === 'string') {
      ids.push(base);
      distinct.push(p);
      contexts.push(0);
    } else {
      for (const t of p.distinct) distinct.push(t);
      for (const c of p.contexts) contexts.push(c);
      for (let k = 0; k < p.ids.length; k++) ids.push(base + p.ids[k]!);
    }
    lines.push(ids.length);
  }
  return { distinct, contexts, ids, lines };
}

function bodyRedactor(scan: TextScan, detectors: ScanOptions | null, ref: string): ResponseRedactor {
  return (body, contentType, agentId) => {
    const encoding = body.length === 0 ? null : encodingOf(body, contentType);
    if (encoding === null) return CLEAN(body);
    const text = decodeText(body, encoding);
    const r = scanBody(scan, detectors, text, contentType?.trim() ?? '', agentId, ref);
    if (r.redactions === 0 && r.blocked === null) return CLEAN(body);
    // Unchanged text keeps its original bytes (warn mode).
    return { body: r.text === text ? body : encodeText(r.text, encoding), redactions: r.redactions, blocked: r.blocked };
  };
}

/**
 * Headers whose values follow a fixed grammar (dates, numbers, media types, opaque validators):
 * they cannot carry free text, and rewriting an ETag would break the agent's conditional requests.
 */
const STRUCTURAL = new Set([
  'content-type',
  'content-encoding',
  'content-language',
  'content-range',
  'accept-ranges',
  'age',
  'cache-control',
  'date',
  'etag',
  'expires',
  'last-modified',
  'retry-after',
  'vary',
  'strict-transport-security',
]);

function headersRedactor(scan: TextScan, ref: string): HeaderRedactor {
  return (headers, agentId) => {
    let out: Record<string, string | string[]> | null = null;
    let redactions = 0;
    let blocked: Blocked | null = null;
    for (const [name, value] of Object.entries(headers)) {
      if (STRUCTURAL.has(name)) continue;
      const values = Array.isArray(value) ? value : [value];
      let changed = false;
      const next = values.map((v) => {
        const r = scan(v, agentId, `${ref} header ${name}`);
        redactions += r.redactions;
        blocked ??= r.blocked;
        if (r.text !== v) changed = true;
        return r.text;
      });
      if (changed) (out ??= { ...headers })[name] = Array.isArray(value) ? next : next[0]!;
    }
    return { headers: out ?? headers, redactions, blocked };
  };
}

function guardScan(guard: ToolPiiGuard): TextScan {
  return (text, agentId, ref, context) => {
    const r = guard.inspect(agentId, 'tool.response', text, ref, context);
    return { text: r.text, redactions: r.redactions, blocked: r.block === null ? null : { message: r.block, types: null } };
  };
}

function modeScan(mode: SafetyMode): TextScan {
  const policy = { mode };
  return (text) => {
    const r = redact(text, { policy });
    if (r.detections.length === 0) return { text, redactions: 0, blocked: null };
    const types = [...new Set(r.detections.map((d) => d.type))];
    const blocked = r.blocked ? { message: `the response contained personal data (${types.join(', ')}) and the safety mode is block`, types } : null;
    return { text: r.text, redactions: r.detections.length, blocked };
  };
}

/**
 * Through the runtime's PII engine, so tool answers are audited like LLM output. The guard sees
 * each value its detectors (`guard.options`) may find something in, one call per value as it
 * always did; values in which they can find nothing are not shown to it. A guard without
 * `options` sees every value.
 */
export function guardRedactor(guard: ToolPiiGuard, service: string): ResponseRedactor {
  return bodyRedactor(guardScan(guard), guard.options ?? null, `tool:${service}`);
}

/** The response headers through the runtime's PII engine, each finding audited. */
export function guardHeaderRedactor(guard: ToolPiiGuard, service: string): HeaderRedactor {
  return headersRedactor(guardScan(guard), `tool:${service}`);
}

/**
 * The safety domain's redactor alone, under one mode: no audit trail (for embedding and tests).
 *
 * @example
 * redactResponse('redact')(Buffer.from('mail: a@b.example'), 'application/yaml', null).body.toString(); // 'mail: [EMAIL_REDACTED]'
 */
export function redactResponse(mode: SafetyMode): ResponseRedactor {
  return bodyRedactor(modeScan(mode), {}, '');
}

/**
 * The headers under one mode, without an audit trail.
 *
 * @example
 * redactHeaders('redact')({ 'x-owner': 'a@b.example' }, null).headers; // { 'x-owner': '[EMAIL_REDACTED]' }
 */
export function redactHeaders(mode: SafetyMode): HeaderRedactor {
  return headersRedactor(modeScan(mode), '');
}
