export { Runtime, type RuntimeOptions } from './runtime.js';
