export * from './errors.js';
export * from './events.js';
export * from './ids.js';
export * from './money.js';
export * from './logger.js';
// The build (scripts/build.mjs) writes package.json's version and the commit it was built from in
// place of IRON_CAGE_BUILD; run from source (the tests) it is not defined, and the version is the
// one a test keeps equal to package.json's.
declare const IRON_CAGE_BUILD: { version: string; commit: string } | undefined;
const BUILD = typeof IRON_CAGE_BUILD === 'undefined' ? { version: '0.1.0', commit: 'source' } : IRON_CAGE_BUILD;
/** This iron-cage's version (package.json's). */
export const VERSION = BUILD.version;
/** The commit this build was made from (`abc1234`, `abc1234-dirty` for uncommitted changes), `source` when run from source. */
export const COMMIT = BUILD.commit;
