import { ValidationError } from '../../core/errors.js';
import type { Candidate } from './detectors/candidate.js';
import { detectEmails } from './detectors/email.js';
import { detectIbans } from './detectors/iban.js';
import { detectIpv6 } from './detectors/ip.js';
import { detectKeys } from './detectors/keys.js';
import { detectNumbers, type NumericOptions } from './detectors/numeric.js';
import { toRegions } from './detectors/phone.js';
import { DEFAULT_PHONE_REGIONS, DEFAULT_RISK, PII_TYPES, type Detection, type PiiType, type Risk, type ScanOptions } from './types.js';

/** Options compiled once: validated, with lookup sets ready. Reuse one for many texts. */
export interface Scanner {
  scan(text: string): Detection[];
  /**
   * Raw findings before overlap resolution; the stream redactor uses them to find a safe cut.
   * None starts before `from` when text before it ends on a hard break (it is read as context).
   */
  candidates(text: string, from?: number): Candidate[];
  resolve(text: string, candidates: Candidate[]): Detection[];
}

const RISK_RANK: Readonly<Record<Risk, number>> = { HIGH: 3, MEDIUM: 2, LOW: 1 };
const RISKS = new Set<string>(Object.keys(RISK_RANK));
const NUMERIC_TYPES: readonly PiiType[] = ['PHONE', 'SSN', 'CREDIT_CARD', 'IP_ADDRESS'];

export function createScanner(opts: ScanOptions = {}): Scanner {
  const types = new Set<PiiType>(opts.types ?? PII_TYPES);
  for (const t of types) if (!PII_TYPES.includes(t)) throw new ValidationError(`unknown PII type '${t}' (known: ${PII_TYPES.join(', ')})`);
  const risk: Record<PiiType, Risk> = { ...DEFAULT_RISK, ...opts.risk };
  for (const [t, r] of Object.entries(risk)) {
    if (!PII_TYPES.includes(t as PiiType)) throw new ValidationError(`unknown PII type '${t}' in risk overrides`);
    if (!RISKS.has(r)) throw new ValidationError(`risk for ${t} must be HIGH, MEDIUM or LOW, not '${r}'`);
  }
  const numeric: NumericOptions = { types, regions: toRegions(opts.phoneRegions ?? DEFAULT_PHONE_REGIONS) };
  const wantsNumbers = NUMERIC_TYPES.some((t) => types.has(t));
  const allowed = allowlist(opts);

  function candidates(text: string, from = 0): Candidate[] {
    const out: Candidate[] = [];
    if (types.has('EMAIL')) detectEmails(text, out, from);
    if (types.has('API_KEY')) detectKeys(text, out, from);
    if (types.has('IBAN')) detectIbans(text, out, from);
    if (types.has('IP_ADDRESS')) detectIpv6(text, out, from);
    if (wantsNumbers) detectNumbers(text, out, numeric, from);
    return out;
  }

  function resolve(text: string, found: Candidate[]): Detection[] {
    const kept = resolveOverlaps(found, risk);
    const result: Detection[] = [];
    for (const c of kept) {
      const value = text.slice(c.start, c.end);
      if (allowed(c.type, value)) continue;
      result.push({ type: c.type, start: c.start, end: c.end, value, risk: risk[c.type], confidence: c.confidence });
    }
    return result;
  }

  return { candidates, resolve, scan: (text) => resolve(text, candidates(text)) };
}

function allowlist(opts: ScanOptions): (type: PiiType, value: string) => boolean {
  const domains = (opts.allowDomains ?? []).map((d) => d.trim().toLowerCase().replace(/^@+/, '').replace(/\.+$/, '')).filter(Boolean);
  const values = new Set(opts.allowValues ?? []);
  const emails = new Set((opts.allowValues ?? []).map((v) => v.toLowerCase()));
  if (domains.length === 0 && values.size === 0) return () => false;
  return (type, value) => {
    if (values.has(value)) return true;
    if (type !== 'EMAIL') return false;
    const lower = value.toLowerCase();
    if (emails.has(lower)) return true;
    const domain = lower.slice(lower.lastIndexOf('@') + 1);
    return domains.some((d) => domain === d || domain.endsWith(`.${d}`));
  };
}

/**
 * Overlapping findings are settled inside each cluster of mutually overlapping ones: the
 * longest wins, then the riskier, then the surer, then the earlier, then the type order.
 * A cluster never reaches past text that no finding covers, which keeps results local.
 */
function resolveOverlaps(found: Candidate[], risk: Readonly<Record<PiiType, Risk>>): Candidate[] {
  if (found.length <= 1) return found;
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  const kept: Candidate[] = [];
  let cluster: Candidate[] = [];
  let clusterEnd = -1;
  for (const c of found) {
    if (c.start >= clusterEnd && cluster.length > 0) {
      settle(cluster, risk, kept);
      cluster = [];
    }
    cluster.push(c);
    clusterEnd = Math.max(clusterEnd, c.end);
  }
  settle(cluster, risk, kept);
  return kept;
}

function settle(cluster: Candidate[], risk: Readonly<Record<PiiType, Risk>>, kept: Candidate[]): void {
  if (cluster.length === 1) {
    kept.push(cluster[0]!);
    return;
  }
  const ranked = [...cluster].sort(
    (a, b) =>
      b.end - b.start - (a.end - a.start) ||
      RISK_RANK[risk[b.type]] - RISK_RANK[risk[a.type]] ||
      b.confidence - a.confidence ||
      a.start - b.start ||
      PII_TYPES.indexOf(a.type) - PII_TYPES.indexOf(b.type),
  );
  const chosen: Candidate[] = [];
  for (const c of ranked) {
    if (chosen.every((k) => c.end <= k.start || c.start >= k.end)) chosen.push(c);
  }
  chosen.sort((a, b) => a.start - b.start);
  kept.push(...chosen);
}
