import { SERVICE_NAME } from '../domain/reliability/index.js';
import { applyRedactions, scan, type Detection, type RedactOptions } from '../domain/pii/index.js';

// Turning `/tools/<service>/<path>?<query>` into an upstream URL that can only ever be under the
// service's configured base URL. The checks run on the raw request target (Node does not
// normalise it) and again on the URL that is finally built, so an encoding trick that slips
// past one is caught by the other.

export const TOOLS_PREFIX = '/tools/';

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export interface ToolTarget {
  service: string;
  /** The path under the base URL as the agent wrote it (still percent-encoded), without a leading '/'. */
  rest: string;
  /** The raw query string without '?', '' when none. */
  query: string;
}

export type ParsedToolUrl = { ok: true; target: ToolTarget } | { ok: false; message: string };

const bad = (message: string): ParsedToolUrl => ({ ok: false, message });

/**
 * Percent-decode until stable, so `%252e%252e` (or the same encoded five times) is seen as the
 * `..` it becomes after enough decodings. Each decoding that changes the text shortens it, so
 * the loop ends; null when an encoding is malformed.
 */
function decodeFully(segment: string): string | null {
  let current = segment;
  while (current.includes('%')) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      return null;
    }
    if (next === current) break;
    current = next;
  }
  return current;
}

// `.`/`..` with or without `;params`, or followed by what a decoding upstream then cuts off
// (`?`, `#`) or trims (whitespace): servlet containers (Tomcat, Jetty) drop a segment's `;…`
// before resolving dot segments, so `..;/` climbs out just like `../`, and so do `..%3f`, `..%20`.
const DOT_SEGMENT = /^\.{1,2}([;?#\s].*)?$/;

function show(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

/** Split and check the request target; `rawUrl` is `req.url`, starting with TOOLS_PREFIX. */
export function parseToolUrl(rawUrl: string): ParsedToolUrl {
  const q = rawUrl.indexOf('?');
  const pathPart = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const query = q < 0 ? '' : rawUrl.slice(q + 1);
  const after = pathPart.slice(TOOLS_PREFIX.length);
  const slash = after.indexOf('/');
  const service = slash < 0 ? after : after.slice(0, slash);
  const rest = slash < 0 ? '' : after.slice(slash + 1);

  if (service === '') return bad('name the service: /tools/<service>/<path>');
  if (!SERVICE_NAME.test(service)) return bad(`${show(service)} is not a service name (letters, digits, '.', '_', '-')`);
  if (CONTROL.test(rest) || CONTROL.test(query) || rest.includes(' ')) return bad('the path contains control characters or spaces');
  if (rest.includes('\\') || /%5c/i.test(rest)) return bad('backslashes are not allowed in a tool path');

  const segments = rest.split('/');
  for (let i = 0; i < segments.length; i++) {
    const raw = segments[i]!;
    // A trailing slash (`people/`) is an ordinary path; an empty segment anywhere else is `//`.
    if (raw === '' && i < segments.length - 1) return bad("empty path segments ('//') are not allowed: they can turn the path into a host");
    const decoded = decodeFully(raw);
    if (decoded === null) return bad(`malformed percent-encoding in ${show(raw)}`);
    if (CONTROL.test(decoded)) return bad('the path contains encoded control characters');
    if (decoded.includes('\\')) return bad('backslashes are not allowed in a tool path');
    // An encoded `/` makes segments too: `%2f%2fhost` is `//host` to an upstream that decodes.
    const last = i === segments.length - 1;
    if (decoded.split('/').some((part, j, parts) => part === '' && !(last && j === parts.length - 1))) return bad("empty path segments ('//') are not allowed: they can turn the path into a host");
    if (decoded.split('/').some((part) => DOT_SEGMENT.test(part))) {
      return bad("'.' and '..' segments are not allowed: the path must stay under the service's base URL");
    }
    if (i === 0 && SCHEME.test(decoded)) return bad('absolute URLs are not allowed: give a path under the service');
    // Lenient URL parsers read `user@host` at the start of a path as an authority.
    if (i === 0 && decoded.includes('@')) return bad("'@' is not allowed in the first path segment");
  }
  return { ok: true, target: { service, rest, query } };
}

/** A service's base URL, parsed once. */
export interface BaseUrl {
  /** As configured, without a trailing slash. */
  href: string;
  origin: string;
  /** '' for a bare origin. */
  path: string;
}

export function baseUrl(href: string): BaseUrl {
  const u = new URL(href);
  return { href: href.replace(/\/+$/, ''), origin: u.origin, path: u.pathname.replace(/\/+$/, '') };
}

/**
 * The upstream URL for `target` under `base`, or null when the URL that comes out (after the
 * WHATWG parser has had its way with dot segments and encodings) would not be under `base`.
 */
export function upstreamUrl(base: BaseUrl | string, target: ToolTarget): URL | null {
  const root = typeof base === 'string' ? baseUrl(base) : base;
  const href = (target.rest === '' ? root.href : `${root.href}/${target.rest}`) + (target.query ? `?${target.query}` : '');
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return null;
  }
  if (url.origin !== root.origin || url.username !== '' || url.password !== '') return null;
  if (url.pathname !== root.path && !url.pathname.startsWith(`${root.path}/`)) return null;
  return url;
}

const ENCODED_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
/** Every finding is replaced in a record, whatever the delivery mode (like the `pii.detected` preview). */
const RECORD_POLICY = { mode: 'redact' } as const;

/**
 * The path of a call as its `tool_calls` row keeps it: PII replaced (the query is not kept at
 * all: it is where tokens and signatures travel). The request itself went upstream as the agent
 * wrote it (the service needs the address), so this is only about our own record, and it is
 * neither audited nor counted. The scan reads the path percent-decoded (`bob%40example.org` is
 * an address) and the replacement covers the encoded bytes, so what is kept stays the path as
 * written, minus the values.
 *
 * @example
 * recordedPath('/people/bob%40example.org/notes'); // '/people/[EMAIL_REDACTED]/notes'
 */
export function recordedPath(written: string, options?: RedactOptions): string {
  // Each decoded character knows the encoded span it came from; a run of %XX decodes as one.
  let decoded = '';
  const from: number[] = [];
  const to: number[] = [];
  const plain = (a: number, b: number): void => {
    for (let i = a; i < b; i++) {
      decoded += written[i];
      from.push(i);
      to.push(i + 1);
    }
  };
  let at = 0;
  for (const m of written.matchAll(ENCODED_RUN)) {
    plain(at, m.index);
    const text = Buffer.from(m[0].replaceAll('%', ''), 'hex').toString('utf8');
    for (let k = 0; k < text.length; k++) {
      decoded += text[k];
      from.push(m.index);
      to.push(m.index + m[0].length);
    }
    at = m.index + m[0].length;
  }
  plain(at, written.length);
  const found = scan(decoded, options);
  if (found.length === 0) return written;
  const spans: Detection[] = [];
  for (const d of found) {
    const start = from[d.start]!;
    const end = to[d.end - 1]!;
    const last = spans.at(-1);
    // Two findings inside one encoded run become one replacement.
    if (last && start < last.end) last.end = Math.max(last.end, end);
    else spans.push({ ...d, start, end });
  }
  return applyRedactions(written, spans, RECORD_POLICY);
}
