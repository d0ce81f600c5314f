/**
 * A plausible value valid against a JSON schema: tool arguments and structured output. Values
 * the prompt supplies win ("weather in Paris" → city "Paris"); the rest are drawn from a seeded
 * generator, so the same request always gets the same value.
 *
 * Recursion follows the schema, which is agent input: depth is capped (recursive `$ref`s end in
 * their smallest form), so neither a deep nor a self-referencing schema can exhaust the stack.
 */
import { resolveRef } from '../../wire/schema.js';
import { formatFromName, identifierWords, type PromptFacts } from './facts.js';
import { fromPattern } from './pattern.js';
import type { JsonSchema } from './types.js';

const MAX_DEPTH = 64;
/** Values one answer may generate: a schema whose required parts multiply (arrays of 1000 of
 * arrays of 1000, two required self-references) ends in nulls instead of hanging the gateway. */
export const MAX_VALUES = 20_000;
/** Longest string padded up to a `minLength`. */
const MAX_PAD = 10_000;
/** Past this depth arrays take their fewest items and objects their required keys only. */
const SHALLOW_DEPTH = 6;

const PEOPLE = ['Ana Lima', 'Sam Carter', 'Priya Nair', 'Jonas Berg', 'Mei Chen', 'Omar Haddad'];
const CITIES = ['Paris', 'Lisbon', 'Tokyo', 'Toronto', 'Nairobi', 'Melbourne'];
const WORDS = ['alpha', 'summary', 'report', 'draft', 'launch', 'review', 'update', 'overview'];
const PROSE = /^(answer|reason|reasoning|explanation|summary|description|text|content|message|response|comment|note|body|analysis|rationale|feedback)$/;

export interface ValueContext {
  /** The whole schema, for `$ref`s. */
  root: unknown;
  facts: PromptFacts;
  rng: () => number;
  /** Values already known by name (a tool result's fields), preferred over the prompt's. */
  known: Record<string, unknown>;
  /** Structured output fills optional properties too; tool arguments only what the prompt gives. */
  fillOptional: boolean;
  /** A sentence for prose-like string fields. */
  prose: () => string;
  /** What is left of MAX_VALUES, shared by every value of one answer. */
  work: { left: number };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const pick = <T>(xs: readonly T[], rng: () => number): T => xs[Math.floor(rng() * xs.length) % xs.length]!;

// Anthropic's SDKs (and LangChain's ChatAnthropic through them) move the keywords Claude's strict
// mode does not take (enum on some types, minimum, maxItems, pattern...) into the description, as
// a trailing `{minimum: 18, enum: ["a","b"]}`. A model reads them there; so does the simulator.
const MOVED_KEYWORDS = /\{((?:[A-Za-z$][\w$]*: [^\n]*?)(?:, [A-Za-z$][\w$]*: [^\n]*?)*)\}\s*$/;

function describedKeywords(description: unknown): JsonSchema {
  if (typeof description !== 'string' || description.length > 10_000) return {};
  const m = MOVED_KEYWORDS.exec(description);
  if (!m) return {};
  try {
    const parsed: unknown = JSON.parse(`{${m[1]!.replace(/(^|, )([A-Za-z$][\w$]*): /g, '$1"$2": ')}}`);
    return isObject(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** The schema with `$ref` resolved, `allOf` folded in and described keywords read, so one node says everything. */
function flatten(s: JsonSchema, root: unknown, depth: number): JsonSchema {
  let out = { ...describedKeywords(s.description), ...s };
  for (let hops = 0; typeof out.$ref === 'string' && hops < 16; hops++) {
    const { $ref, ...rest } = out;
    const target = resolveRef(root, $ref as string);
    out = { ...(isObject(target) ? target : {}), ...rest };
  }
  if (Array.isArray(out.allOf) && depth < MAX_DEPTH) {
    const { allOf, ...rest } = out;
    let merged: JsonSchema = rest;
    for (const part of allOf as unknown[]) {
      if (!isObject(part)) continue;
      const p = flatten(part, root, depth + 1);
      merged = {
        ...merged,
        ...p,
        properties: { ...(isObject(merged.properties) ? merged.properties : {}), ...(isObject(p.properties) ? p.properties : {}) },
        required: [...(Array.isArray(merged.required) ? merged.required : []), ...(Array.isArray(p.required) ? p.required : [])],
      };
    }
    out = merged;
  }
  return out;
}

function typeOf(s: JsonSchema): string {
  const t = Array.isArray(s.type) ? (s.type.find((x) => x !== 'null') ?? s.type[0]) : s.type;
  if (typeof t === 'string') return t;
  if (isObject(s.properties) || s.additionalProperties !== undefined || Array.isArray(s.required)) return 'object';
  if (s.items !== undefined || Array.isArray(s.prefixItems)) return 'array';
  if (typeof s.minimum === 'number' || typeof s.maximum === 'number') return 'number';
  return 'string';
}

/**
 * A value valid against `schema`, named `name` where a property holds it.
 * @example valueFor({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, ctx) // { city: 'Paris' } for "weather in Paris"
 */
export function valueFor(schema: unknown, ctx: ValueContext, name = '', depth = 0): unknown {
  if (schema === true || schema === undefined) return stringFor({}, ctx, name);
  if (!isObject(schema) || depth > MAX_DEPTH || --ctx.work.left < 0) return null;
  const s = flatten(schema, ctx.root, depth);
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) {
    const said = s.enum.find((v) => typeof v === 'string' && ctx.facts.mentions(v));
    const known = ctx.known[name];
    return s.enum.includes(known) ? known : said !== undefined ? said : pick(s.enum, ctx.rng);
  }
  const branches = (Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : null) as unknown[] | null;
  if (branches) {
    const { anyOf: _a, oneOf: _o, ...rest } = s;
    const real = branches.filter((b) => !(isObject(b) && b.type === 'null'));
    const chosen = real.find((b) => isObject(b) && (('const' in b && typeof b.const === 'string' && ctx.facts.mentions(b.const)) || false)) ?? real[0] ?? branches[0];
    return valueFor(isObject(chosen) ? { ...rest, ...chosen } : chosen, ctx, name, depth + 1);
  }
  switch (typeOf(s)) {
    case 'object':
      return objectFor(s, ctx, depth);
    case 'array':
      return arrayFor(s, ctx, name, depth);
    case 'integer':
      return numberFor(s, ctx, name, true);
    case 'number':
      return numberFor(s, ctx, name, false);
    case 'boolean':
      return typeof ctx.known[name] === 'boolean' ? ctx.known[name] : ctx.rng() < 0.5;
    case 'null':
      return null;
    default:
      return stringFor(s, ctx, name);
  }
}

function provided(name: string, sub: unknown, ctx: ValueContext): boolean {
  if (name in ctx.known) return true;
  const s = isObject(sub) ? sub : {};
  if (Array.isArray(s.enum)) return s.enum.some((v) => typeof v === 'string' && ctx.facts.mentions(v));
  const t = typeOf(s);
  if (t === 'integer' || t === 'number') return ctx.facts.number(name) !== undefined;
  if (t === 'string') return ctx.facts.string(name, typeof s.format === 'string' ? s.format : undefined) !== undefined;
  return false;
}

function objectFor(s: JsonSchema, ctx: ValueContext, depth: number): Record<string, unknown> {
  const props = isObject(s.properties) ? s.properties : {};
  const required = new Set((Array.isArray(s.required) ? s.required : []).filter((r): r is string => typeof r === 'string'));
  const full = ctx.fillOptional && depth < SHALLOW_DEPTH;
  const keys = Object.keys(props).filter((k) => required.has(k) || full || (depth < SHALLOW_DEPTH && provided(k, props[k], ctx)));
  for (const k of required) if (!keys.includes(k)) keys.push(k);
  const min = Math.min(typeof s.minProperties === 'number' ? s.minProperties : 0, 1_000);
  for (const k of Object.keys(props)) if (keys.length < min && !keys.includes(k)) keys.push(k);
  const out: Record<string, unknown> = {};
  for (const k of keys) if (props[k] !== false) out[k] = valueFor(k in props ? props[k] : isObject(s.additionalProperties) ? s.additionalProperties : {}, ctx, k, depth + 1);
  // Open maps with no named properties (`additionalProperties: {type: number}`) still need minProperties keys.
  for (let i = 0; Object.keys(out).length < min && s.additionalProperties !== false; i++)
    out[`key${i + 1}`] = valueFor(isObject(s.additionalProperties) ? s.additionalProperties : {}, ctx, '', depth + 1);
  return out;
}

function arrayFor(s: JsonSchema, ctx: ValueContext, name: string, depth: number): unknown[] {
  const prefix = Array.isArray(s.prefixItems) ? s.prefixItems : [];
  const min = typeof s.minItems === 'number' ? s.minItems : 0;
  const max = typeof s.maxItems === 'number' ? s.maxItems : Infinity;
  const wanted = depth >= SHALLOW_DEPTH ? 0 : Math.max(prefix.length, 2);
  const count = Math.min(Math.max(wanted, min), max, 1_000);
  const items = s.items === false ? undefined : s.items;
  const item = isObject(items) ? flatten(items, ctx.root, depth) : {};
  const singular = name.endsWith('s') ? name.slice(0, -1) : name;
  const out: unknown[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const sub = i < prefix.length ? prefix[i] : items;
    let v = valueFor(sub, ctx, singular, depth + 1);
    if (s.uniqueItems === true) {
      // Re-draw a duplicate a few times; enums run through their values in order.
      const choices = Array.isArray(item.enum) ? item.enum.filter((e) => !seen.has(JSON.stringify(e))) : [];
      for (let tries = 0; seen.has(JSON.stringify(v)) && tries < 8; tries++) v = choices.length > 0 ? choices[0] : valueFor(sub, { ...ctx, known: {} }, `${singular}${i}`, depth + 1);
      seen.add(JSON.stringify(v));
    }
    out.push(v);
  }
  return out;
}

/** The schema's own limits (infinite where it sets none) and the range random draws come from. */
function bounds(s: JsonSchema, integer: boolean): { min: number; max: number; lo: number; hi: number } {
  const exMin = typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum : s.exclusiveMinimum === true && typeof s.minimum === 'number' ? s.minimum : undefined;
  const exMax = typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum : s.exclusiveMaximum === true && typeof s.maximum === 'number' ? s.maximum : undefined;
  const step = integer ? 1 : 0.01;
  let min = exMin !== undefined ? exMin + step : typeof s.minimum === 'number' ? s.minimum : -Infinity;
  let max = exMax !== undefined ? exMax - step : typeof s.maximum === 'number' ? s.maximum : Infinity;
  if (integer) (min = Math.ceil(min)), (max = Math.floor(max));
  max = Math.max(min, max);
  if (min === -Infinity && max === Infinity) return { min, max, lo: 1, hi: 100 };
  if (min === -Infinity) return { min, max, lo: max - 100 < 0 && max >= 0 ? 0 : max - 100, hi: max };
  if (max === Infinity) return { min, max, lo: min, hi: min + 100 };
  return { min, max, lo: min, hi: max };
}

function numberFor(s: JsonSchema, ctx: ValueContext, name: string, integer: boolean): number {
  const { min, max, lo, hi } = bounds(s, integer);
  const m = typeof s.multipleOf === 'number' && s.multipleOf > 0 ? s.multipleOf : integer ? 1 : 0;
  const fits = (v: number) => Number.isFinite(v) && v >= min && v <= max && (!integer || Number.isInteger(v)) && (m === 0 || Math.abs(v / m - Math.round(v / m)) < 1e-9);
  const known = ctx.known[name];
  for (const c of [typeof known === 'number' ? known : undefined, ctx.facts.number(name), ctx.facts.onlyNumber()]) if (c !== undefined && fits(c)) return c;
  if (m > 0) {
    const kLo = Math.ceil(lo / m);
    const kHi = Math.floor(hi / m);
    const k = kHi >= kLo ? kLo + Math.floor(ctx.rng() * (kHi - kLo + 1)) : kLo;
    return Number((k * m).toPrecision(12));
  }
  const v = Math.round((lo + ctx.rng() * (hi - lo)) * 100) / 100;
  return Math.min(hi, Math.max(lo, v));
}

function synthesize(name: string, format: string | undefined, ctx: ValueContext): string {
  const { rng } = ctx;
  const two = (n: number) => String(n).padStart(2, '0');
  const date = `2025-${two(1 + Math.floor(rng() * 12))}-${two(1 + Math.floor(rng() * 28))}`;
  const time = `${two(8 + Math.floor(rng() * 10))}:${two(Math.floor(rng() * 4) * 15)}:00`;
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(rng() * 16).toString(16)).join('');
  const word = pick(WORDS, rng);
  switch (format) {
    case 'email':
      return `${pick(PEOPLE, rng).toLowerCase().replace(' ', '.')}@example.com`;
    case 'date':
      return date;
    case 'date-time':
      return `${date}T${time}Z`;
    case 'time':
      return `${time}Z`;
    case 'duration':
      return `PT${1 + Math.floor(rng() * 8)}H`;
    case 'uri':
    case 'url':
      return `https://example.com/${word}`;
    case 'uuid':
      return `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
    case 'ipv4':
      return `192.0.2.${1 + Math.floor(rng() * 254)}`;
    case 'ipv6':
      return `2001:db8::${hex(4)}`;
    case 'hostname':
      return `${word}.example.com`;
  }
  const last = identifierWords(name).at(-1) ?? '';
  if (/^(name|person|user|username|author|contact|recipient|customer|owner|assignee)$/.test(last)) return pick(PEOPLE, rng);
  if (/^(city|location|place|town|destination|origin|venue)$/.test(last)) return pick(CITIES, rng);
  if (last === 'id' || last === 'key' || last === 'code') return `${identifierWords(name)[0] ?? 'id'}_${hex(8)}`;
  if (last === 'phone') return `+1 555 01${two(Math.floor(rng() * 100))}`;
  if (PROSE.test(last)) return ctx.prose();
  return word;
}

function fitLength(v: string, s: JsonSchema): string {
  const min = Math.min(typeof s.minLength === 'number' ? s.minLength : 0, MAX_PAD);
  const max = typeof s.maxLength === 'number' ? s.maxLength : Infinity;
  const out = [...v].length > max ? [...v].slice(0, max).join('') : v;
  const needed = min - [...out].length;
  let pad = '';
  for (let i = 0; pad.length < needed; i++) pad += ` ${WORDS[i % WORDS.length]}`;
  return out + pad.slice(0, Math.max(0, needed));
}

function stringFor(s: JsonSchema, ctx: ValueContext, name: string): string {
  const format = typeof s.format === 'string' ? s.format : formatFromName(name);
  const known = ctx.known[name];
  const candidates = [typeof known === 'string' ? known : undefined, ctx.facts.string(name, format), synthesize(name, format, ctx)];
  let pattern: RegExp | null = null;
  try {
    pattern = typeof s.pattern === 'string' ? new RegExp(s.pattern, 'u') : null;
  } catch {
    pattern = null;
  }
  let fallback: string | undefined;
  for (const c of candidates) {
    if (c === undefined) continue;
    const v = fitLength(c, s);
    fallback ??= v;
    if (!pattern || pattern.test(v)) return v;
  }
  return (pattern && fromPattern(s.pattern as string)) ?? fallback ?? '';
}
