export { loadConfig, type FlagValues, type LoadOptions } from './load.js';
export { DEFAULTS, type Config } from './schema.js';
