// A small JSON Schema validator written apart from the simulator's generator, so the tests check
// its values against the keywords themselves, not against its own reading of them.

type S = Record<string, any>;

const FORMATS: Record<string, RegExp> = {
  date: /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/,
  'date-time': /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
  time: /^\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/,
  email: /^[^\s@]+@[^\s@]+\.[^\s@]+$/,
  uri: /^[a-z][a-z0-9+.-]*:\/\/\S+$/i,
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  ipv4: /^(\d{1,3}\.){3}\d{1,3}$/,
};

function typeMatches(t: string, v: unknown): boolean {
  switch (t) {
    case 'null':
      return v === null;
    case 'array':
      return Array.isArray(v);
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    default:
      return typeof v === t;
  }
}

function resolve(root: S, ref: string): S {
  let at: any = root;
  for (const k of ref.replace(/^#\/?/, '').split('/').filter(Boolean)) at = at?.[k];
  if (at === undefined) throw new Error(`unresolved ${ref}`);
  return at;
}

/** Every way `v` breaks `schema`, as readable paths; empty when it is valid. */
export function schemaErrors(schema: unknown, v: unknown, root: S = schema as S, path = '$'): string[] {
  if (schema === true || schema === undefined) return [];
  if (schema === false) return [`${path}: no value allowed`];
  const s = schema as S;
  const errs: string[] = [];
  const fail = (m: string) => errs.push(`${path}: ${m} (got ${JSON.stringify(v)})`);
  if (typeof s.$ref === 'string') errs.push(...schemaErrors(resolve(root, s.$ref), v, root, path));
  if (s.type !== undefined && !(Array.isArray(s.type) ? s.type : [s.type]).some((t: string) => typeMatches(t, v))) fail(`not of type ${s.type}`);
  if ('const' in s && JSON.stringify(s.const) !== JSON.stringify(v)) fail(`not const ${JSON.stringify(s.const)}`);
  if (Array.isArray(s.enum) && !s.enum.some((e: unknown) => JSON.stringify(e) === JSON.stringify(v))) fail('not in enum');
  if (Array.isArray(s.anyOf) && !s.anyOf.some((b: unknown) => schemaErrors(b, v, root, path).length === 0)) fail('matches no anyOf branch');
  if (Array.isArray(s.oneOf) && s.oneOf.filter((b: unknown) => schemaErrors(b, v, root, path).length === 0).length !== 1) fail('does not match exactly one oneOf branch');
  if (Array.isArray(s.allOf)) for (const b of s.allOf) errs.push(...schemaErrors(b, v, root, path));
  if (typeof v === 'string') {
    const len = [...v].length;
    if (typeof s.minLength === 'number' && len < s.minLength) fail(`shorter than ${s.minLength}`);
    if (typeof s.maxLength === 'number' && len > s.maxLength) fail(`longer than ${s.maxLength}`);
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) fail(`does not match ${s.pattern}`);
    if (typeof s.format === 'string' && FORMATS[s.format] && !FORMATS[s.format]!.test(v)) fail(`not a ${s.format}`);
  }
  if (typeof v === 'number') {
    if (typeof s.minimum === 'number' && v < s.minimum) fail(`below ${s.minimum}`);
    if (typeof s.maximum === 'number' && v > s.maximum) fail(`above ${s.maximum}`);
    if (typeof s.exclusiveMinimum === 'number' && v <= s.exclusiveMinimum) fail(`not above ${s.exclusiveMinimum}`);
    if (typeof s.exclusiveMaximum === 'number' && v >= s.exclusiveMaximum) fail(`not below ${s.exclusiveMaximum}`);
    if (typeof s.multipleOf === 'number' && Math.abs(v / s.multipleOf - Math.round(v / s.multipleOf)) > 1e-9) fail(`not a multiple of ${s.multipleOf}`);
  }
  if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems) fail(`fewer than ${s.minItems} items`);
    if (typeof s.maxItems === 'number' && v.length > s.maxItems) fail(`more than ${s.maxItems} items`);
    if (s.uniqueItems === true && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) fail('items not unique');
    const prefix: unknown[] = Array.isArray(s.prefixItems) ? s.prefixItems : [];
    for (const [i, x] of v.entries()) errs.push(...schemaErrors(i < prefix.length ? prefix[i] : s.items, x, root, `${path}[${i}]`));
  }
  if (typeMatches('object', v)) {
    const o = v as S;
    const props: S = s.properties ?? {};
    for (const r of s.required ?? []) if (!(r in o)) fail(`missing required '${r}'`);
    if (typeof s.minProperties === 'number' && Object.keys(o).length < s.minProperties) fail(`fewer than ${s.minProperties} properties`);
    for (const [k, x] of Object.entries(o)) {
      if (k in props) errs.push(...schemaErrors(props[k], x, root, `${path}.${k}`));
      else if (s.additionalProperties === false) fail(`unexpected property '${k}'`);
      else if (typeof s.additionalProperties === 'object') errs.push(...schemaErrors(s.additionalProperties, x, root, `${path}.${k}`));
    }
  }
  return errs;
}
