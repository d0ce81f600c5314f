// Conditions on a tool call's arguments (`match.args` of a policy rule): a field of the
// arguments, by its dotted path, tested by operators. Pure: the arguments come in as JSON values.
//
// How a test reads a value, the same for every operator:
// - text compares without regard to case or Unicode form (NFKC), so `@ACME.example` and the
//   fullwidth `＠acme.example` are what `endswith: "@acme.example"` means;
// - a list (or a path that passes through one) holds when any of its items does: `to: [a, b]`
//   fails `endswith: "@acme.example"` unless one does, and is caught by `not_endswith` when any
//   item does not end so (one outside recipient is enough);
// - a field that is not there holds no test but `exists: false` (write `exists: true` beside a
//   `not_…` test when its absence should count too).

export const TEXT_OPS = ['equals', 'not_equals', 'contains', 'not_contains', 'startswith', 'not_startswith', 'endswith', 'not_endswith', 'matches', 'not_matches'] as const;
export const LIST_OPS = ['in', 'not_in'] as const;
export const NUMBER_OPS = ['gt', 'gte', 'lt', 'lte'] as const;
export type TextOp = (typeof TEXT_OPS)[number];
export type ListOp = (typeof LIST_OPS)[number];
export type NumberOp = (typeof NUMBER_OPS)[number];

/** One operator and what it compares against, compiled (text folded, a pattern built). */
export type ArgTest =
  | { op: Exclude<TextOp, 'matches' | 'not_matches'>; value: string }
  | { op: 'matches' | 'not_matches'; value: RegExp }
  | { op: ListOp; value: string[] }
  | { op: NumberOp; value: number }
  | { op: 'exists'; value: boolean };

/** A field's tests: every one must hold. `path`: the field's keys from the arguments' top (`recipient.email` → ['recipient', 'email']). */
export interface ArgCondition {
  field: string;
  path: string[];
  tests: ArgTest[];
}

/** Text as compared: Unicode-folded (NFKC) and lower-case. */
export const fold = (s: string): string => s.normalize('NFKC').toLowerCase();

/** A JSON scalar as text (numbers and booleans as JSON writes them); null for objects. */
function text(v: unknown): string | null {
  if (typeof v === 'string') return fold(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  return null;
}

function number(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

/** The values a path reaches: lists along the way are walked item by item. */
function reach(value: unknown, path: readonly string[], out: unknown[]): void {
  if (Array.isArray(value)) {
    for (const v of value) reach(v, path, out);
    return;
  }
  if (path.length === 0) {
    out.push(value);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const [key, ...rest] = path;
  if (!Object.hasOwn(value, key!)) return;
  reach((value as Record<string, unknown>)[key!], rest, out);
}

/** Whether one value passes one positive test (the `not_` ones are this, negated). */
function passes(t: ArgTest, v: unknown): boolean {
  switch (t.op) {
    case 'equals':
    case 'not_equals':
      return text(v) === t.value;
    case 'contains':
    case 'not_contains':
      return text(v)?.includes(t.value) ?? false;
    case 'startswith':
    case 'not_startswith':
      return text(v)?.startsWith(t.value) ?? false;
    case 'endswith':
    case 'not_endswith':
      return text(v)?.endsWith(t.value) ?? false;
    case 'matches':
    case 'not_matches': {
      const s = typeof v === 'string' ? v.normalize('NFKC') : text(v);
      return s !== null && t.value.test(s);
    }
    case 'in':
    case 'not_in': {
      const s = text(v);
      return s !== null && t.value.includes(s);
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const n = number(v);
      if (n === null) return false;
      return t.op === 'gt' ? n > t.value : t.op === 'gte' ? n >= t.value : t.op === 'lt' ? n < t.value : n <= t.value;
    }
    case 'exists':
      return true;
  }
}

const negated = (op: ArgTest['op']): boolean => op.startsWith('not_');

/** Whether the arguments meet a condition: each of its tests holds for some value the path reaches. */
export function meets(args: unknown, c: ArgCondition): boolean {
  const values: unknown[] = [];
  reach(args, c.path, values);
  for (const t of c.tests) {
    if (t.op === 'exists') {
      if (values.length > 0 !== t.value) return false;
      continue;
    }
    if (values.length === 0) return false;
    const holds = negated(t.op) ? values.some((v) => !passes(t, v)) : values.some((v) => passes(t, v));
    if (!holds) return false;
  }
  return true;
}
