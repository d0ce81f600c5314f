// The phone plans' data derived at build time (src/domain/pii/detectors/phone-data.ts, written by
// `npm run pii:phone-data`) is what phone-derive.ts derives from the installed
// libphonenumber-js: a library upgrade fails here until the file is written again.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { firstDigits } from '../../src/domain/pii/detectors/first-digits.js';
import { callingCodesJson, PHONE_DATA_VERSION, phonePlansJson } from '../../src/domain/pii/detectors/phone-data.js';
import { derivePhoneData, type PlanData } from '../../src/domain/pii/detectors/phone-derive.js';
import { expectEqual, expectIs } from '../helpers/cheap-expect.js';

const derived = derivePhoneData();

describe('phone data derived at build time', () => {
  it("equals the derivation from the installed library's metadata, plan by plan", () => {
    const plans = phonePlansJson();
    expect(Object.keys(plans).sort()).toEqual(Object.keys(derived.plans).sort());
    for (const [selector, json] of Object.entries(plans)) expectEqual(JSON.parse(json), derived.plans[selector], selector);
    expect(JSON.parse(callingCodesJson())).toEqual(derived.callingCodes);
    expect(PHONE_DATA_VERSION).toBe(derived.version);
    const { version } = createRequire(import.meta.url)('libphonenumber-js/package.json') as { version: string };
    expect(phoneDataHeader()).toContain(`from libphonenumber-js ${version} `);
  });

  it('covers every country and non-geographic code, and every calling code names plans it has', () => {
    const metadata = createRequire(import.meta.url)('libphonenumber-js/metadata.max.json') as { countries: object; nonGeographic: object; country_calling_codes: Record<string, string[]> };
    expect(Object.keys(derived.plans).sort()).toEqual([...Object.keys(metadata.countries), ...Object.keys(metadata.nonGeographic)].sort());
    for (const [code, countries] of Object.entries(derived.callingCodes)) for (const c of countries) expectIs(derived.plans[c]![0], code, `${code} ${c}`);
    expect(derived.callingCodes['1']).toHaveLength(25);
    expect(derived.callingCodes['800']).toEqual(['800']);
  });

  it('reads the first digits of a pattern as the plans use it, anchored (phone-plan.ts once read them so)', () => {
    const anchoredFirst = (p: PlanData) => [
      [p[2], firstDigits(`^(?:${p[1]})$`)],
      ...p[3].map((t) => [t[2], firstDigits(`^(?:${t[0]})$`)]),
      [p[6], p[5] === null ? 0 : firstDigits(`^(?:${p[5]})`)],
      [p[9], p[8] === null ? 0 : firstDigits(`^(?:${p[8]})`)],
    ];
    for (const [selector, plan] of Object.entries(derived.plans)) for (const [stored, read] of anchoredFirst(plan)) expectIs(stored, read, selector);
  });
});

function phoneDataHeader(): string {
  return readFileSync(new URL('../../src/domain/pii/detectors/phone-data.ts', import.meta.url), 'utf8').split('\n')[0]!;
}
