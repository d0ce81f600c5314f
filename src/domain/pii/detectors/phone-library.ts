import { createRequire } from 'node:module';
import type { CountryCode, MetadataJson } from 'libphonenumber-js/core';

// libphonenumber's full metadata and code cost every process ~12 MB of RSS and ~100 ms to load
// (measured on Node 20), and most processes never see a phone-shaped number: the CLI's other
// commands, a gateway whose traffic holds none. ESM offers no synchronous lazy import and the
// scan is synchronous, so the library's CommonJS build and its metadata are required when a
// phone candidate is first validated, and kept for the process lifetime.

type Core = typeof import('libphonenumber-js/core');
type MetadataClass = Core['Metadata'];
const requireCjs = createRequire(import.meta.url);
let loaded: { core: Core; metadata: MetadataJson } | undefined;
let metadataOnly: { Metadata: MetadataClass; metadata: MetadataJson } | undefined;

/** The library's functions (`libphonenumber-js/core`) and the full ("max") metadata they take as their last argument. */
export function phoneLibrary(): { core: Core; metadata: MetadataJson } {
  loaded ??= { core: requireCjs('libphonenumber-js/core') as Core, metadata: phoneMetadata().metadata };
  return loaded;
}

/**
 * The library's Metadata class and the full metadata, which is all phone-plan.ts reads: the class's
 * own module (~2 ms), where `libphonenumber-js/core` loads the whole library (parsing, formatting,
 * as-you-type; ~20 ms of a fresh process's first scan), which only phone.ts's rare fallback to the
 * library's formatter needs. The package's exports name no such entry, so it is required by its
 * path from `core/`; a test holds it to be core's own class.
 */
export function phoneMetadata(): { Metadata: MetadataClass; metadata: MetadataJson } {
  if (metadataOnly === undefined) {
    const besideCore = createRequire(requireCjs.resolve('libphonenumber-js/core'));
    metadataOnly = {
      Metadata: (besideCore('../build/metadata.js') as { default: MetadataClass }).default,
      metadata: requireCjs('libphonenumber-js/metadata.max.json') as MetadataJson,
    };
  }
  return metadataOnly;
}

/** Whether the metadata has been loaded (for the tests of the lazy load). */
export function phoneLibraryLoaded(): boolean {
  return metadataOnly !== undefined;
}

// The ISO 3166 codes of the countries libphonenumber has a plan for (its getCountries()), so
// that a scanner's phone regions are checked without loading the metadata; a test keeps the
// list equal to the library's.
const COUNTRIES = new Set(
  (
    'AC AD AE AF AG AI AL AM AO AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW ' +
    'CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GT GU GW GY HK HN HR HT HU ID IE IL IM IN IO IQ ' +
    'IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ ' +
    'NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY ' +
    'SZ TA TC TD TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW'
  ).split(' '),
);

export function isPhoneCountry(code: string): code is CountryCode {
  return COUNTRIES.has(code);
}

/** Every country code accepted as a phone region, in order (for the test against the library). */
export function phoneCountries(): string[] {
  return [...COUNTRIES];
}
