import { mayBegin } from './first-digits.js';
import type { PlanData } from './phone-derive.js';
import { callingCodesJson, phonePlansJson } from './phone-data.js';

// libphonenumber's validity rule, read from its own metadata and compiled once: a national
// significant number is valid for a country when it matches the country's national pattern
// and the pattern (and lengths) of one number type. A parse through the library costs
// 10-20 µs (it rebuilds metadata objects and regexes per call); this costs a few regex tests,
// which is what lets a PII-dense text hold a phone number every few hundred bytes.
// The national prefix is stripped the library's way, transform rules (carrier codes) included.
// What is read of the metadata (pattern sources, lengths, prefixes, formats, the digits each
// pattern can begin with, the countries of each calling code) was derived from the installed
// library at build time (phone-derive.ts, phone-data.ts): a process compiles the plans it uses
// from that, without loading the library.

interface NumberType {
  pattern: RegExp;
  lengths: readonly number[] | undefined;
  /** The digits a number of this type can begin with. */
  first: number;
}

interface Plan {
  /**
   * Bit n set when some number type takes n digits: a length no type takes is invalid without
   * a regex test (most candidates fail here). All bits when a type leaves its lengths open.
   */
  lengths: number;
  national: RegExp;
  /** The digits a national number can begin with (first-digits.ts): others are invalid without a regex test. */
  nationalFirst: number;
  types: readonly NumberType[];
  possible: readonly number[];
  /** National prefix for parsing (`0`), anchored; null when there is none. */
  prefix: RegExp | null;
  prefixFirst: number;
  /** What replaces a prefix with captured digits (`$2`), e.g. Brazil's carrier codes. */
  transform: string | undefined;
  /** The international call prefix (`00`, `011`), anchored. */
  idd: RegExp | null;
  iddFirst: number;
  /** The country calling code's digits, which people sometimes write without the '+'. */
  callingCode: string;
  /** How national numbers are printed, in the library's order of preference. */
  formats: readonly PrintFormat[];
  /** The plans of every country sharing this calling code (filled on first use). */
  sharing?: PlanFamily;
}

interface PrintFormat {
  /** The last (most detailed) leading-digits pattern, anchored at the start. */
  leading: RegExp | null;
  pattern: RegExp;
  /** The same pattern unanchored, for String.replace with `format`. */
  replace: RegExp;
  format: string;
  /** Every `$n` in `format` is separated from the next by a non-digit, and all are used in order. */
  apart: boolean;
}

const anchored = (source: string) => new RegExp(`^(?:${source})$`);

const plans = new Map<string, Plan | null>();

// The plans' data, parsed per plan when first compiled.
let plansJson: Readonly<Record<string, string>> | undefined;

function compile(selector: string): Plan | null {
  let plan = plans.get(selector);
  if (plan !== undefined) return plan;
  plansJson ??= phonePlansJson();
  const json = Object.hasOwn(plansJson, selector) ? plansJson[selector] : undefined;
  if (json === undefined) {
    plans.set(selector, null);
    return null;
  }
  const [callingCode, national, nationalFirst, typeData, possible, prefix, prefixFirst, transform, idd, iddFirst, formats] = JSON.parse(json) as PlanData;
  const types: NumberType[] = typeData.map(([source, lengths, first]) => ({ pattern: anchored(source), lengths: lengths ?? undefined, first }));
  let lengths = 0;
  for (const t of types) {
    if (t.lengths === undefined) lengths = -1;
    else for (const n of t.lengths) lengths |= n >= 0 && n <= 30 ? 1 << n : -1;
  }
  plan = {
    lengths,
    national: anchored(national),
    nationalFirst,
    types,
    possible,
    prefix: prefix !== null ? new RegExp(`^(?:${prefix})`) : null,
    prefixFirst,
    transform: transform ?? undefined,
    idd: idd !== null ? new RegExp(`^(?:${idd})`) : null,
    iddFirst,
    callingCode,
    formats: formats.map(([pattern, format, leading, apart]) => ({
      leading: leading !== null ? new RegExp(`^(?:${leading})`) : null,
      pattern: anchored(pattern),
      replace: new RegExp(pattern),
      format,
      apart,
    })),
  };
  plans.set(selector, plan);
  return plan;
}

function validIn(plan: Plan, nsn: string): boolean {
  if ((plan.lengths !== -1 && (nsn.length > 30 || (plan.lengths & (1 << nsn.length)) === 0)) || !mayBegin(plan.nationalFirst, nsn) || !plan.national.test(nsn)) return false;
  // A type's first digits turn a number down before its regex (GB's fixed-line pattern, tried
  // first, is 1,900 characters, and no mobile number begins with a digit it can begin with).
  for (const t of plan.types) {
    if ((t.lengths && !t.lengths.includes(nsn.length)) || !mayBegin(t.first, nsn)) continue;
    if (t.pattern.test(nsn)) return true;
  }
  return false;
}

/** The digits without their national prefix (`0…`), as libphonenumber strips it; null when there is none. */
function withoutPrefix(plan: Plan, digits: string): string | null {
  // A prefix that matches nothing is no prefix, so the first digit decides as well as the regex.
  if (plan.prefix === null || !mayBegin(plan.prefixFirst, digits)) return null;
  const m = plan.prefix.exec(digits);
  if (!m || m[0].length === 0) return null;
  const captured = m.length > 1 && m[m.length - 1];
  if (!plan.transform || !captured) return digits.slice(m[0].length);
  // Rules that prepend an area code to a local number (VI: 2345678 → 3402345678) are for
  // dialling, and the library ignores them for numbers written whole.
  const transformed = digits.replace(plan.prefix!, plan.transform);
  return transformed.length <= digits.length ? transformed : null;
}

/** Valid as written or without the national prefix (the library keeps whichever is valid). */
function validForms(plan: Plan, digits: string): boolean {
  if (validIn(plan, digits)) return true;
  const stripped = withoutPrefix(plan, digits);
  return stripped !== null && validIn(plan, stripped);
}

/**
 * Plans read together: those of one calling code (the +1 code has 25). A number valid in one
 * of them matches a number type's pattern of one of them, as written or without that plan's
 * national prefix. One regex of every type's pattern rejects in one test what fails them all
 * as written (most numbers), one of every prefix what no plan can strip, where the plans one by
 * one take two or three tests each.
 */
interface PlanFamily {
  plans: readonly Plan[];
  /** Null for a family of one plan, which is tried as it is. */
  any: AnyOf | null;
  /** Any plan's national prefix, anchored at the start; null when none has one. */
  anyPrefix: RegExp | null;
  anyPrefixFirst: number;
  /** The plans by how they strip the national prefix (its pattern and transform). */
  byPrefix: ReadonlyArray<{ plans: readonly Plan[]; any: AnyOf }>;
}

/** Any number type's pattern of some plans, and the lengths they take (as Plan.lengths). */
interface AnyOf {
  type: RegExp;
  lengths: number;
  /** The digits a number of any of those types can begin with. */
  first: number;
}

// Back-references would change meaning once the patterns are numbered together.
const BACK_REFERENCE = /\\[1-9]/;

function anyOf(plans: readonly Plan[]): AnyOf {
  let lengths = 0;
  for (const p of plans) lengths |= p.lengths;
  let first = 0;
  for (const p of plans) for (const t of p.types) first |= t.first;
  const sources = plans.flatMap((p) => p.types.map((t) => t.pattern.source));
  // The digits an alternation can begin with are those its parts can.
  return { type: new RegExp(`^(?:${sources.join('|')})$`), lengths, first };
}

function familyOf(plans: readonly Plan[]): PlanFamily {
  const sources = plans.flatMap((p) => [...p.types.map((t) => t.pattern.source), p.prefix?.source ?? '']);
  if (plans.length < 2 || sources.some((src) => BACK_REFERENCE.test(src))) return { plans, any: null, anyPrefix: null, anyPrefixFirst: 0, byPrefix: [] };
  const byPrefix = new Map<string, Plan[]>();
  for (const plan of plans) {
    if (plan.prefix === null) continue; // strips nothing
    const key = `${plan.prefix.source}\u0000${plan.transform ?? ''}`;
    const list = byPrefix.get(key);
    if (list === undefined) byPrefix.set(key, [plan]);
    else list.push(plan);
  }
  const prefixes = plans.flatMap((p) => (p.prefix === null ? [] : [p.prefix.source]));
  return {
    plans,
    any: anyOf(plans),
    anyPrefix: prefixes.length > 0 ? new RegExp(prefixes.map((src) => `^(?:${src})`).join('|')) : null,
    anyPrefixFirst: plans.reduce((first, p) => first | p.prefixFirst, 0),
    byPrefix: [...byPrefix.values()].map((list) => ({ plans: list, any: anyOf(list) })),
  };
}

function mayBeValid(any: AnyOf, nsn: string): boolean {
  return (any.lengths === -1 || (nsn.length <= 30 && (any.lengths & (1 << nsn.length)) !== 0)) && mayBegin(any.first, nsn) && any.type.test(nsn);
}

let together = true;

/** Turns reading a family's plans together off (and on): the tests compare both ways. */
export function readPlansTogether(on: boolean): void {
  together = on;
}

/** Whether validForms holds for some plan of the family. */
function validInAny(family: PlanFamily, digits: string): boolean {
  if (!together || family.any === null || mayBeValid(family.any, digits)) {
    for (const plan of family.plans) if (validForms(plan, digits)) return true;
    return false;
  }
  // Valid in none as written: only without a national prefix, which those alike strip alike.
  if (family.anyPrefix === null || !mayBegin(family.anyPrefixFirst, digits) || !family.anyPrefix.test(digits)) return false;
  for (const group of family.byPrefix) {
    const stripped = withoutPrefix(group.plans[0]!, digits);
    if (stripped === null || !mayBeValid(group.any, stripped)) continue;
    for (const plan of group.plans) if (validForms(plan, digits)) return true;
  }
  return false;
}

/**
 * Is this national number (digits only, maybe with its trunk prefix) valid in `country` or a
 * country sharing its calling code (the library's rule: `07624 369230` is valid "for GB")?
 * @example
 * nationalValid('02079460958', 'GB'); // true
 */
export function nationalValid(digits: string, country: string): boolean {
  const own = compile(country);
  if (own === null) return false;
  own.sharing ??= familyOf(
    countriesOf(own.callingCode)
      .map((c) => (c === country ? own : compile(c)))
      .filter((p): p is Plan => p !== null),
  );
  if (validInAny(own.sharing, digits)) return true;
  // `0049 30 1234567`: the international prefix; `49 30 1234567`: the country code without its '+'.
  const idd = own.idd !== null && mayBegin(own.iddFirst, digits) ? own.idd.exec(digits) : null;
  if (idd && idd[0].length > 0) return internationalVerdict(digits.slice(idd[0].length)) === 'valid';
  const cc = own.callingCode;
  return digits.startsWith(cc) && !validIn(own, digits) && internationalVerdict(digits) === 'valid';
}

interface CallingPlans {
  family: PlanFamily;
  /** The plan of the code's main (first) country. */
  main: Plan | null;
}

/** The plans of a calling code's countries; null when no country has the code. */
function callingPlans(code: string): CallingPlans | null {
  const countries = countriesOf(code);
  if (countries.length === 0) return null;
  const plans = countries.map((c) => compile(c));
  return { family: familyOf(plans.filter((p): p is Plan => p !== null)), main: plans[0]! };
}

// callingPlans by the code's digits: 0-9, then 10 + 00-99, then 110 + 000-999 (a leading 0 counts).
const CODE_BASE = [0, 0, 10, 110];
const byCode: Array<CallingPlans | null | undefined> = new Array(1110).fill(undefined);
let codes: Readonly<Record<string, readonly string[]>> | undefined;
function countriesOf(code: string): readonly string[] {
  codes ??= JSON.parse(callingCodesJson()) as Record<string, readonly string[]>;
  return Object.hasOwn(codes, code) ? codes[code]! : [];
}

/**
 * A number written with its country code (digits after the '+'): 'valid', 'possible' (a length
 * the country uses) or 'no'.
 * @example
 * internationalVerdict('442079460958'); // 'valid'
 */
export function internationalVerdict(digits: string): 'valid' | 'possible' | 'no' {
  let code = 0;
  for (let len = 1; len <= 3 && len < digits.length; len++) {
    const d = digits.charCodeAt(len - 1) - 48;
    code = code >= 0 && d >= 0 && d <= 9 ? code * 10 + d : -1;
    // The code's plans by its digits, without a slice per length tried (1, 2, then 3 digits).
    const key = code >= 0 ? CODE_BASE[len]! + code : -1;
    let calling = key >= 0 ? byCode[key] : undefined;
    if (calling === undefined) {
      calling = callingPlans(digits.slice(0, len));
      if (key >= 0) byCode[key] = calling;
    }
    if (calling === null) continue;
    const nsn = digits.slice(len);
    if (validInAny(calling.family, nsn)) return 'valid';
    // Lengths: the library asks the code's main country.
    const main = calling.main;
    if (main === null) return 'no';
    const stripped = withoutPrefix(main, nsn);
    return main.possible.includes(nsn.length) || (stripped !== null && main.possible.includes(stripped.length)) ? 'possible' : 'no';
  }
  return 'no';
}

/** The digits as the library reads them nationally: as written, without the trunk prefix, or without the country code. */
function nationalSignificant(plan: Plan, digits: string): string {
  if (validIn(plan, digits)) return digits;
  const stripped = withoutPrefix(plan, digits);
  if (stripped !== null && validIn(plan, stripped)) return stripped;
  return digits.startsWith(plan.callingCode) ? digits.slice(plan.callingCode.length) : digits;
}

/**
 * Digit-group lengths of a valid national number (written without its trunk prefix) as the
 * library prints it nationally, without the prefix; null when no print format applies.
 * @example
 * printedGroups('512345678', 'PL'); // [3, 3, 3]
 */
export function printedGroups(digits: string, country: string): number[] | null {
  const plan = compile(country);
  if (plan === null) return null;
  const nsn = nationalSignificant(plan, digits);
  for (const f of plan.formats) {
    if (f.leading !== null && !f.leading.test(nsn)) continue;
    const m = f.pattern.exec(nsn);
    if (m === null) continue;
    // `$1 $2 $3`: each captured group printed apart, so the captures are the groups.
    if (f.apart) return m.slice(1).map((g) => g.length);
    return (nsn.replace(f.replace, f.format).match(/\d+/g) ?? []).map((g) => g.length);
  }
  return null;
}
