export { INJECTION_WHERE, InjectionGuard, warning, type InjectionAction, type InjectionAnswer, type InjectionFinding, type InjectionSource, type InjectionVerdict } from './guard.js';
