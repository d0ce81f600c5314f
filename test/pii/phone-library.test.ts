import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getCountries } from 'libphonenumber-js/max';
import { describe, expect, it } from 'vitest';
import { phoneCountries, phoneLibrary, phoneMetadata } from '../../src/domain/pii/detectors/phone-library.js';
import { scannerFor } from '../../src/domain/pii/index.js';
import { ROOT } from '../helpers/runtime.js';

// Test files share one module graph (vitest.config.ts), where another file has long loaded the
// metadata: the load is watched in a process of its own. Only the formatter fallback (phone.ts
// libraryPrinted, for a layout no compiled print format covers) and the derivation load it.
const child = `
import { phoneLibraryLoaded } from './src/domain/pii/detectors/phone-library.ts';
import { scan, scannerFor } from './src/domain/pii/index.ts';
const seen = [];
scannerFor({ phoneRegions: ['DE', 'br'] });
seen.push(scan('mail bob@acme.com, key sk-proj-abc123def456ghi789jkl0, on 2025-01-15 at 10:30 for $1,200.50 (v2.3.1, 12345-6789)').map((d) => d.type).join(), phoneLibraryLoaded());
seen.push(scan('call +44 20 7946 0958 today').map((d) => d.type).join(), phoneLibraryLoaded());
console.log(JSON.stringify(seen));
`;

describe('libphonenumber', () => {
  it('is not loaded by a scan: the plans are compiled from phone-data.ts, derived from it at build time', async () => {
    // tsx keeps what it compiled under the temporary folder (tsx-<uid>): this clone's cache, not /tmp's.
    const cache = join(ROOT, 'node_modules/.cache/tsx');
    mkdirSync(cache, { recursive: true });
    const env = { ...process.env, TMPDIR: cache };
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { cwd: ROOT, env, timeout: 20_000 });
    expect(JSON.parse(stdout)).toEqual(['EMAIL,API_KEY', false, 'PHONE', false]);
  });

  it("the plans' data is derived from the library's own Metadata class, loaded alone, and its full metadata", () => {
    const { core, metadata } = phoneLibrary();
    expect(phoneMetadata().Metadata).toBe(core.Metadata);
    expect(phoneMetadata().metadata).toBe(metadata);
  });

  it('phone regions are checked against its list of countries without loading it', () => {
    expect(phoneCountries()).toEqual(getCountries());
    expect(() => scannerFor({ phoneRegions: ['XX'] })).toThrow(/phone region 'XX' is not a known ISO 3166 country code/);
  });
});
