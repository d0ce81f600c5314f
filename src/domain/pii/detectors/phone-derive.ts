import { firstDigits } from './first-digits.js';
import { phoneMetadata } from './phone-library.js';

// What phone-plan.ts reads of libphonenumber's metadata, derived from the installed library: each
// numbering plan's pattern sources, lengths, prefixes and print formats, the digits each pattern
// can begin with (first-digits.ts), and the countries of each calling code. A fresh process used
// to derive this on its first phone candidates (loading the library's Metadata class and its
// 157 KB of metadata, reading ~70 KB of pattern sources with the first-digit reader: ~40-90 ms of
// its first scan, interpreted); phone-data.ts holds it derived at build time
// (`npm run pii:phone-data` writes it), and test/pii/phone-data.test.ts holds
// that file equal to what this function derives from the library installed.

/** The number types phone-plan.ts reads, in the library's order. */
export const PHONE_TYPES = ['FIXED_LINE', 'MOBILE', 'TOLL_FREE', 'PREMIUM_RATE', 'SHARED_COST', 'VOIP', 'PERSONAL_NUMBER', 'PAGER', 'UAN', 'VOICEMAIL'] as const;

/** A number type: its pattern's source, its possible lengths (null: open) and the digits it can begin with. */
export type TypeData = [source: string, lengths: number[] | null, first: number];
/** A print format: pattern, format, last leading-digits pattern (or null), and whether each `$n` is printed apart in order. */
export type FormatData = [pattern: string, format: string, leading: string | null, apart: boolean];
export type PlanData = [
  callingCode: string,
  national: string,
  nationalFirst: number,
  types: TypeData[],
  possible: number[],
  prefix: string | null,
  prefixFirst: number,
  transform: string | null,
  idd: string | null,
  iddFirst: number,
  formats: FormatData[],
];

export interface PhoneData {
  /** libphonenumber-js's metadata version (`version` in its metadata file). */
  version: number;
  /** Per selector (an ISO country code, or a non-geographic calling code such as `800`). */
  plans: Record<string, PlanData>;
  /** The countries of each calling code, main country first (a non-geographic code: itself). */
  callingCodes: Record<string, string[]>;
}

interface RawType {
  pattern(): string;
  possibleLengths(): number[] | undefined;
}
interface RawPlan {
  nationalNumberPattern(): string;
  possibleLengths(): number[];
  nationalPrefixForParsing(): string | undefined;
  nationalPrefixTransformRule(): string | undefined;
  callingCode(): string;
  IDDPrefix(): string | undefined;
  formats(): Array<{ pattern(): string; format(): string; leadingDigitsPatterns(): string[] }>;
  type(t: string): RawType | undefined;
}
interface RawMetadata {
  selectNumberingPlan(selector: string): void;
  numberingPlan: RawPlan;
  hasCallingCode(code: string): boolean;
  getCountryCodesForCallingCode(code: string): string[] | undefined;
  isNonGeographicCallingCode(code: string): boolean;
}
interface MetadataFile {
  version: number;
  country_calling_codes: Record<string, string[]>;
  countries: Record<string, unknown>;
  nonGeographic?: Record<string, unknown>;
}

/** `$1 $2-$3` with `groups` captures: each printed once, in order, with a separator between. */
export function printsApart(format: string, groups: number): boolean {
  const refs = format.match(/\$\d/g) ?? [];
  if (refs.length !== groups || refs.some((r, i) => r !== `$${i + 1}`)) return false;
  return !/\$\d\$/.test(format) && /^\D*\$1/.test(format);
}

function planData(raw: RawPlan): PlanData {
  const types: TypeData[] = [];
  for (const t of PHONE_TYPES) {
    const def = raw.type(t);
    const source = def?.pattern();
    if (source) types.push([source, def!.possibleLengths() ?? null, firstDigits(source)]);
  }
  const prefix = raw.nationalPrefixForParsing() || null;
  const idd = raw.IDDPrefix() || null;
  return [
    raw.callingCode(),
    raw.nationalNumberPattern(),
    firstDigits(raw.nationalNumberPattern()),
    types,
    raw.possibleLengths() ?? [],
    prefix,
    prefix ? firstDigits(prefix) : 0,
    raw.nationalPrefixTransformRule() || null,
    idd,
    idd ? firstDigits(idd) : 0,
    raw.formats().map((f): FormatData => {
      const leading = f.leadingDigitsPatterns();
      return [f.pattern(), f.format(), leading.length > 0 ? leading[leading.length - 1]! : null, printsApart(f.format(), new RegExp(`${f.pattern()}|`).exec('')!.length - 1)];
    }),
  ];
}

/** Everything phone-plan.ts reads, derived from the installed library's full metadata. */
export function derivePhoneData(): PhoneData {
  const { Metadata, metadata: json } = phoneMetadata();
  const file = json as unknown as MetadataFile;
  const metadata = new Metadata(json) as unknown as RawMetadata;
  const plans: Record<string, PlanData> = {};
  const callingCodes: Record<string, string[]> = {};
  const selectors = [...Object.keys(file.countries), ...Object.keys(file.nonGeographic ?? {})].sort();
  for (const selector of selectors) {
    metadata.selectNumberingPlan(selector);
    plans[selector] = planData(metadata.numberingPlan);
  }
  const codes = [...new Set([...Object.keys(file.country_calling_codes), ...Object.keys(file.nonGeographic ?? {})])].sort();
  for (const code of codes) {
    let countries = metadata.hasCallingCode(code) ? (metadata.getCountryCodesForCallingCode(code) ?? []) : [];
    if (countries.length === 0 && metadata.isNonGeographicCallingCode(code)) countries = [code];
    if (countries.length > 0) callingCodes[code] = countries;
  }
  return { version: file.version, plans, callingCodes };
}
