export * from './errors.js';
export * from './events.js';
export * from './ids.js';
export * from './money.js';
export * from './logger.js';
export const VERSION = '0.1.0';
