/**
 * Whether a value is a JSON Schema the providers accept for tool parameters and structured
 * output, checked before anything is reserved so a bad schema costs nothing. Messages follow
 * OpenAI's own ("Invalid schema for function 'f': In context=('properties', 'x'), ..."), so an
 * agent sees here what it would see from the provider.
 *
 * The walk is iterative and depth-bounded: a schema is agent input, and a 100k-deep one must
 * not overflow the stack here or in the generator that later recurses over accepted schemas.
 */

/** Deepest schema nesting accepted (OpenAI's strict mode allows 10 object levels; others more). */
export const MAX_SCHEMA_DEPTH = 64;

const TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'];
const SUBSCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'] as const;
const SUBSCHEMA_MAPS = ['properties', '$defs', 'definitions', 'patternProperties'] as const;
const SUBSCHEMAS = ['items', 'additionalProperties', 'not', 'contains', 'if', 'then', 'else'] as const;
const NON_NEGATIVE_INTS = ['minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties'] as const;
const NUMBERS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'] as const;

export interface SchemaOptions {
  /** OpenAI strict mode: every object closed (`additionalProperties: false`) and fully required. */
  strict?: boolean;
}

type Path = ReadonlyArray<string>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const kindOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const context = (path: Path) => `In context=(${path.map((p) => `'${p}'`).join(', ')}${path.length === 1 ? ',' : ''})`;

/** Resolves a local `$ref` (`#`, `#/$defs/x`, `#/definitions/x`, any JSON pointer) in `root`. */
export function resolveRef(root: unknown, ref: string): unknown {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let at: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(at) && !Array.isArray(at)) return undefined;
    at = (at as Record<string, unknown>)[key];
    if (at === undefined) return undefined;
  }
  return at;
}

/** The problem with one schema node, not looking into its subschemas (the walk does that). */
function nodeProblem(s: Record<string, unknown>, root: unknown, opts: SchemaOptions): string | null {
  const t = s.type;
  if (t !== undefined) {
    const list = Array.isArray(t) ? t : [t];
    if (list.length === 0) return "'type' must not be an empty array.";
    for (const one of list) if (typeof one !== 'string' || !TYPES.includes(one)) return `'type' must be one of ${TYPES.map((x) => `'${x}'`).join(', ')}; got ${JSON.stringify(one)}.`;
  }
  if (s.properties !== undefined && !isObject(s.properties)) return `'properties' must be an object mapping names to schemas; got ${kindOf(s.properties)}.`;
  if (s.required !== undefined) {
    if (!Array.isArray(s.required) || s.required.some((r) => typeof r !== 'string')) return "'required' must be an array of strings.";
    if (isObject(s.properties)) {
      const missing = s.required.find((r) => !Object.hasOwn(s.properties as object, r as string));
      if (missing !== undefined) return `'required' names '${missing}', which is not in 'properties'.`;
    }
  }
  if (s.enum !== undefined && (!Array.isArray(s.enum) || s.enum.length === 0)) return "'enum' must be a non-empty array.";
  if (s.$ref !== undefined) {
    if (typeof s.$ref !== 'string') return "'$ref' must be a string.";
    if (resolveRef(root, s.$ref) === undefined) return `reference to '${s.$ref}' which was not found in the schema.`;
  }
  for (const k of SUBSCHEMA_LISTS) {
    const v = s[k];
    if (v !== undefined && (!Array.isArray(v) || v.length === 0)) return `'${k}' must be a non-empty array of schemas.`;
  }
  for (const k of SUBSCHEMA_MAPS) if (s[k] !== undefined && !isObject(s[k])) return `'${k}' must be an object mapping names to schemas; got ${kindOf(s[k])}.`;
  if (Array.isArray(s.items)) return "'items' must be a schema (an object); for tuples use 'prefixItems'.";
  for (const k of NON_NEGATIVE_INTS) {
    const v = s[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) return `'${k}' must be a non-negative integer.`;
  }
  for (const k of NUMBERS) if (s[k] !== undefined && typeof s[k] !== 'number') return `'${k}' must be a number.`;
  if (typeof s.multipleOf === 'number' && !(s.multipleOf > 0)) return "'multipleOf' must be greater than 0.";
  if (s.pattern !== undefined) {
    if (typeof s.pattern !== 'string') return "'pattern' must be a string.";
    try {
      new RegExp(s.pattern, 'u');
    } catch {
      return `'pattern' is not a valid regular expression: ${JSON.stringify(s.pattern)}.`;
    }
  }
  if (s.format !== undefined && typeof s.format !== 'string') return "'format' must be a string.";
  if (opts.strict && (s.type === 'object' || (Array.isArray(s.type) && s.type.includes('object')) || isObject(s.properties))) {
    if (s.additionalProperties !== false) return "'additionalProperties' is required to be supplied and to be false.";
    const keys = Object.keys(isObject(s.properties) ? s.properties : {});
    const req = Array.isArray(s.required) ? s.required : [];
    const missing = keys.find((k) => !req.includes(k));
    if (missing !== undefined || (s.required === undefined && keys.length > 0))
      return `'required' is required to be supplied and to be an array including every key in properties.${missing !== undefined ? ` Missing '${missing}'.` : ''}`;
  }
  return null;
}

/** The children of a schema node with their path steps. */
function children(s: Record<string, unknown>): Array<[Path, unknown]> {
  const out: Array<[Path, unknown]> = [];
  for (const k of SUBSCHEMA_MAPS) if (isObject(s[k])) for (const [name, sub] of Object.entries(s[k] as object)) out.push([[k, name], sub]);
  for (const k of SUBSCHEMA_LISTS) if (Array.isArray(s[k])) for (const [i, sub] of (s[k] as unknown[]).entries()) out.push([[k, String(i)], sub]);
  for (const k of SUBSCHEMAS) if (s[k] !== undefined && typeof s[k] !== 'boolean') out.push([[k], s[k]]);
  return out;
}

/**
 * What is wrong with `schema` as a JSON Schema (the detail only, e.g. for Anthropic's wording),
 * or null if the providers accept it. The root must describe an object.
 * @example schemaDetail({ type: 'object', properties: { n: { type: 'int' } } }) // "In context=('properties', 'n'), 'type' must be one of ..."
 */
export function schemaDetail(schema: unknown, opts: SchemaOptions = {}): string | null {
  if (!isObject(schema)) return `${context([])}, schema must be a JSON Schema of 'type: "object"', got ${kindOf(schema)}.`;
  if (schema.type !== undefined && schema.type !== 'object') return `schema must be a JSON Schema of 'type: "object"', got 'type: ${JSON.stringify(schema.type)}'.`;
  const stack: Array<{ node: unknown; path: Path; depth: number }> = [{ node: schema, path: [], depth: 0 }];
  while (stack.length > 0) {
    const { node, path, depth } = stack.pop()!;
    if (typeof node === 'boolean') continue;
    if (!isObject(node)) return `${context(path)}, schema must be an object or a boolean; got ${kindOf(node)}.`;
    if (depth > MAX_SCHEMA_DEPTH) return `${context(path.slice(0, 6))}, schema is nested deeper than ${MAX_SCHEMA_DEPTH} levels.`;
    const problem = nodeProblem(node, schema, opts);
    if (problem !== null) return `${context(path)}, ${problem}`;
    const kids = children(node);
    // Pushed in reverse so the first problem in document order is the one reported.
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ node: kids[i]![1], path: [...path, ...kids[i]![0]], depth: depth + 1 });
  }
  return null;
}

/**
 * A precise message when `schema` is not a JSON Schema the providers accept, or null.
 * `where` names its place the way OpenAI does: "function 'get_weather'", "response_format 'answer'".
 * @example schemaProblem({ type: 'object', required: 'city' }, "function 'get_weather'") // "Invalid schema for function 'get_weather': In context=(), 'required' must be an array of strings."
 */
export function schemaProblem(schema: unknown, where: string, opts: SchemaOptions = {}): string | null {
  const detail = schemaDetail(schema, opts);
  return detail === null ? null : `Invalid schema for ${where}: ${detail}`;
}
