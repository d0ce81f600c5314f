export { InjectionGuard, warning, type InjectionFinding, type InjectionVerdict } from './guard.js';
