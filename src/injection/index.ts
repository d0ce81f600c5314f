export { INJECTION_WHERE, InjectionGuard, spanned, warning, type InjectionAction, type InjectionAnswer, type InjectionFinding, type InjectionSource, type InjectionVerdict } from './guard.js';
