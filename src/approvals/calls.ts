// A tool-proxy call as the policy reads it: its tool name (the path under the service, decoded
// as the upstream will read it) and its arguments (the JSON body's fields, or a form's, and the
// query's parameters). Read the way an upstream would, so an encoding cannot slip a call past a
// rule written for its plain form: `%73end`, `send;x=1`, `send/` are all `send`.

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

const MAX_ARGS_BYTES = 1024 * 1024;

/**
 * An HTTP call's arguments: its JSON object body's fields (or an urlencoded form's), then the
 * query's parameters where the body has no field of that name. A body that is not an object
 * (a list, text, bytes) is `body`. A parameter given twice is a list.
 */
export function httpArgs(query: string, body: Buffer | null, contentType: string | undefined): Record<string, unknown> {
  // No prototype: a body field named `__proto__` is a field like any other.
  const args: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (body !== null && body.length > 0 && body.length <= MAX_ARGS_BYTES) {
    const text = body.toString('utf8');
    const type = (contentType ?? '').toLowerCase();
    if (type.includes('application/x-www-form-urlencoded')) Object.assign(args, params(text));
    else {
      try {
        const v: unknown = JSON.parse(text);
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) Object.assign(args, v);
        else args.body = v;
      } catch {
        args.body = text;
      }
    }
  }
  for (const [k, v] of Object.entries(params(query))) if (!Object.hasOwn(args, k)) args[k] = v;
  return args;
}

function params(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (text === '') return out;
  for (const [k, v] of new URLSearchParams(text)) {
    const had = out[k];
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return out;
}
