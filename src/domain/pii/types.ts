// The vocabulary of the safety domain: what we detect, how bad it is, and what a finding looks like.

export const PII_TYPES = ['EMAIL', 'PHONE', 'SSN', 'CREDIT_CARD', 'IBAN', 'IP_ADDRESS', 'API_KEY'] as const;
export type PiiType = (typeof PII_TYPES)[number];

export const RISKS = ['HIGH', 'MEDIUM', 'LOW'] as const;
export type Risk = (typeof RISKS)[number];

/** Audit severity: what an incident means for compliance, independent of the redaction mode. */
export const PII_SEVERITIES = ['CRITICAL', 'WARN', 'INFO'] as const;
export type Severity = (typeof PII_SEVERITIES)[number];

/**
 * One finding. Offsets are UTF-16 code units (JavaScript string indices), end exclusive.
 * `value` is the matched text: it is the very thing we protect, so it goes to the audit
 * helpers (hash, encrypt) and nowhere else — never into a log, an event or a response.
 */
export interface Detection {
  type: PiiType;
  start: number;
  end: number;
  value: string;
  risk: Risk;
  /** How sure the detector is, 0..1: strong formats and checksums score high, bare digits with a keyword low. */
  confidence: number;
}

export interface ScanOptions {
  /** Types to look for; all of them when omitted. */
  types?: readonly PiiType[];
  /** Risk per type, overriding DEFAULT_RISK. */
  risk?: Partial<Record<PiiType, Risk>>;
  /** E-mail domains never flagged, with their subdomains: `company.com` or `@company.com`. */
  allowDomains?: readonly string[];
  /** Exact values never flagged (e-mail addresses compare case-insensitively). */
  allowValues?: readonly string[];
  /**
   * Countries whose national formats (with a trunk 0 or a bracketed area code, e.g. `020 7946 0958`)
   * count as phone numbers. Numbers written with `+` are recognised for every country regardless.
   */
  phoneRegions?: readonly string[];
}

export const DEFAULT_RISK: Readonly<Record<PiiType, Risk>> = {
  EMAIL: 'HIGH',
  CREDIT_CARD: 'HIGH',
  SSN: 'HIGH',
  API_KEY: 'HIGH',
  PHONE: 'MEDIUM',
  IBAN: 'MEDIUM',
  IP_ADDRESS: 'LOW',
};

export const DEFAULT_PHONE_REGIONS: readonly string[] = ['US', 'GB', 'DE', 'FR', 'ES', 'IT', 'NL', 'PL', 'AU', 'JP', 'BR', 'IN'];

const REPLACEMENTS = Object.fromEntries(PII_TYPES.map((t) => [t, `[${t}_REDACTED]`])) as Readonly<Record<PiiType, string>>;

export function replacementFor(type: PiiType): string {
  return REPLACEMENTS[type];
}
