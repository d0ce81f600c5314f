export { InjectionGuard, warning, type InjectionFinding, type InjectionSource, type InjectionVerdict } from './guard.js';
