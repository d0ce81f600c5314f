// Many pieces at once: a list of texts, or every string of a JSON value (a tool's answer).
import { type DetectOptions, detectInjection, INJECTION_SIGNALS, type InjectionResult, type InjectionSignal } from './detect.js';

/** One result per text, in order. */
export function detectInjectionEach(texts: readonly string[], opts: DetectOptions = {}): InjectionResult[] {
  return texts.map((t) => detectInjection(t, opts));
}

export interface JsonInjectionResult extends InjectionResult {
  /** The JSON paths (`$.items[3].body`) of the strings that were flagged, at most 20. */
  paths: string[];
  /** The first flagged string, or null: where an excerpt comes from. */
  text: string | null;
}

/** Keys this long are read too: a key can carry a sentence as well as a value can. */
const LONG_KEY = 24;
const MAX_STRINGS = 100_000;

/**
 * Every string of a JSON value (long keys too) read as its own text; the value's score is its
 * highest string's, its signals all the flagged strings' (or the top string's when none is).
 * A string shorter than 16 characters holds no instruction worth a scan and is skipped.
 */
export function detectInjectionJson(value: unknown, opts: DetectOptions = {}): JsonInjectionResult {
  const texts: string[] = [];
  const paths: string[] = [];
  const walk = (v: unknown, path: string, depth: number) => {
    if (texts.length >= MAX_STRINGS || depth > 64) return;
    if (typeof v === 'string') {
      if (v.length >= 16) {
        texts.push(v);
        paths.push(path);
      }
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) walk(v[i], `${path}[${i}]`, depth + 1);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        const p = /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
        if (k.length >= LONG_KEY) {
          texts.push(k);
          paths.push(p);
        }
        walk(x, p, depth + 1);
      }
    }
  };
  walk(value, '$', 0);
  const results = detectInjectionEach(texts, opts);
  let top: InjectionResult = { score: 0, flagged: false, signals: [] };
  const fired = new Set<InjectionSignal>();
  const flaggedPaths: string[] = [];
  let text: string | null = null;
  results.forEach((r, i) => {
    if (r.score > top.score) top = r;
    if (r.flagged) {
      text ??= texts[i]!;
      for (const s of r.signals) fired.add(s);
      if (flaggedPaths.length < 20) flaggedPaths.push(paths[i]!);
    }
  });
  const signals = fired.size > 0 ? INJECTION_SIGNALS.filter((s) => fired.has(s)) : top.signals;
  return { score: top.score, flagged: top.flagged, signals, paths: flaggedPaths, text };
}
