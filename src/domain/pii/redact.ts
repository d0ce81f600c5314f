import { DEFAULT_POLICY, modeFor, validatePolicy, type SafetyPolicy } from './policy.js';
import { createScanner, type Scanner } from './scanner.js';
import { replacementFor, type Detection, type ScanOptions } from './types.js';

export interface RedactOptions extends ScanOptions {
  /** Which findings are replaced: all but `warn`-mode types. Default: redact everything. */
  policy?: SafetyPolicy;
}

export interface RedactResult {
  /** The text with findings replaced by `[EMAIL_REDACTED]` and the like (warn-mode types left as they are). */
  text: string;
  detections: Detection[];
  /** A finding's type is in `block` mode: the caller must refuse rather than deliver `text`. */
  blocked: boolean;
}

// Compiling a scanner costs far more than a scan of a short text, so scanners are shared:
// by options object first, then by what the options say (callers often spread one config
// into a fresh object per stream). Options that only carry a policy share the default scanner.
const compiled = new WeakMap<object, Scanner>();
const bySettings = new Map<string, Scanner>();
const MAX_SHARED = 64;
const SCAN_KEYS = ['types', 'risk', 'allowDomains', 'allowValues', 'phoneRegions'] as const satisfies ReadonlyArray<keyof ScanOptions>;
let defaultScanner: Scanner | undefined;

export function scannerFor(opts?: ScanOptions): Scanner {
  const defaults = opts === undefined || SCAN_KEYS.every((k) => opts[k] === undefined);
  if (defaults) return (defaultScanner ??= createScanner());
  let scanner = compiled.get(opts);
  if (scanner === undefined) {
    const key = JSON.stringify(SCAN_KEYS.map((k) => opts[k] ?? null));
    scanner = bySettings.get(key);
    if (scanner === undefined) {
      scanner = createScanner(opts);
      if (bySettings.size >= MAX_SHARED) bySettings.clear();
      bySettings.set(key, scanner);
    }
    compiled.set(opts, scanner);
  }
  return scanner;
}

export function scan(text: string, opts?: ScanOptions): Detection[] {
  return scannerFor(opts).scan(text);
}

/**
 * Replaces the given findings (sorted, not overlapping, as scan returns them); under a
 * policy, findings of `warn`-mode types stay in the text.
 */
export function applyRedactions(text: string, detections: readonly Detection[], policy: SafetyPolicy = DEFAULT_POLICY): string {
  let out = '';
  let at = 0;
  for (const d of detections) {
    if (modeFor(d.type, policy) === 'warn') continue;
    out += text.slice(at, d.start) + replacementFor(d.type);
    at = d.end;
  }
  return at === 0 ? text : out + text.slice(at);
}

export function redact(text: string, opts?: RedactOptions): RedactResult {
  const policy = opts?.policy ? validatePolicy(opts.policy) : DEFAULT_POLICY;
  const detections = scan(text, opts);
  return {
    text: applyRedactions(text, detections, policy),
    detections,
    blocked: detections.some((d) => modeFor(d.type, policy) === 'block'),
  };
}
