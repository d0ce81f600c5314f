/**
 * JSON mode (`json_object`) has no schema, so agents describe the shape in the prompt: a JSON
 * Schema or an example object. This finds one, so the answer has the keys the agent will parse.
 */
import type { JsonSchema, SimTurn } from './types.js';

const MAX_SCAN = 20_000;
const MAX_CANDIDATES = 20;
const MAX_DEPTH = 16;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The schema an example value implies: its keys required, its types kept. */
function schemaOf(v: unknown, depth: number): JsonSchema {
  if (depth > MAX_DEPTH) return {};
  if (Array.isArray(v)) return { type: 'array', items: v.length > 0 ? schemaOf(v[0], depth + 1) : { type: 'string' } };
  if (isObject(v)) {
    const properties = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, schemaOf(x, depth + 1)]));
    return { type: 'object', properties, required: Object.keys(properties) };
  }
  if (typeof v === 'number') return { type: Number.isInteger(v) ? 'integer' : 'number' };
  if (typeof v === 'boolean') return { type: 'boolean' };
  if (v === null) return { type: 'null' };
  return { type: 'string' };
}

/** JSON objects written in `text` (balanced braces that parse), first ones first. */
function objectsIn(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const t = text.slice(0, MAX_SCAN);
  let tries = 0;
  for (let start = t.indexOf('{'); start !== -1 && tries < MAX_CANDIDATES; start = t.indexOf('{', start + 1), tries++) {
    let depth = 0;
    let end = -1;
    for (let i = start; i < t.length; i++) {
      if (t[i] === '{') depth++;
      else if (t[i] === '}' && --depth === 0) {
        end = i;
        break;
      }
    }
    if (end === -1) break;
    try {
      const v = JSON.parse(t.slice(start, end + 1));
      if (isObject(v)) {
        out.push(v);
        start = end;
      }
    } catch {
      // not JSON: try the next brace
    }
  }
  return out;
}

/**
 * The shape the conversation asks JSON mode for, or null: a JSON Schema written in a system or
 * user turn, else an example object's keys and types.
 * @example jsonHint([{ role: 'user', text: 'Reply as {"name": "...", "age": 0}' }]) // { type: 'object', properties: { name: ..., age: ... }, ... }
 */
export function jsonHint(turns: readonly SimTurn[]): JsonSchema | null {
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i]!;
    if (turn.role !== 'user' && turn.role !== 'system') continue;
    for (const o of objectsIn(turn.text)) {
      if (o.type === 'object' && isObject(o.properties)) return o;
      if (isObject(o.properties) && Object.keys(o).every((k) => ['properties', 'required', 'title', 'description', 'additionalProperties', '$schema'].includes(k))) return { type: 'object', ...o };
      return schemaOf(o, 0);
    }
  }
  return null;
}
