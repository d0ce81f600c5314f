// Prompt injection: whether untrusted text (a tool's answer, a web page, an e-mail,
// a JSON value) holds instructions aimed at the model that will read it. Pure and offline:
// signals that need no model plus a small linear classifier whose weights are in weights.ts.
// docs/injection.md says how it works, what it was trained on and how well it does.
export {
  detectInjection,
  INJECTION_SIGNALS,
  INJECTION_THRESHOLD,
  type DetectOptions,
  type InjectionResult,
  type InjectionSignal,
  type InjectionSpan,
} from './detect.js';
export { detectInjectionEach, detectInjectionJson, type JsonInjectionResult } from './many.js';
