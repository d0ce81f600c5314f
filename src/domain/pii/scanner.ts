import { ValidationError } from '../../core/errors.js';
import { LOOK_BEHIND, type Candidate } from './detectors/candidate.js';
import { detectEmails } from './detectors/email.js';
import { detectIbans } from './detectors/iban.js';
import { detectIpv6 } from './detectors/ip.js';
import { detectKeys } from './detectors/keys.js';
import { detectUrlPasswords } from './detectors/url-credentials.js';
import { detectNumbers, type NumericOptions } from './detectors/numeric.js';
import { toRegions } from './detectors/phone.js';
import { APART, joinTexts, textAt } from './joined.js';
import { firstFold, foldedLength, foldStretches, foldText, glueEnd, normalizeText, STRETCHES_FROM, type NormalizedText } from './normalize.js';
import { DEFAULT_PHONE_REGIONS, DEFAULT_RISK, PII_TYPES, type Detection, type PiiType, type Risk, type ScanOptions } from './types.js';

/** Options compiled once: validated, with lookup sets ready. Reuse one for many texts. */
export interface Scanner {
  scan(text: string): Detection[];
  /**
   * Raw findings before overlap resolution; the stream redactor uses them to find a safe cut.
   * None starts before `from` when text before it ends on a hard break (it is read as context).
   * The detectors read the text folded (normalize.ts); offsets are the original text's.
   * `folded`: the caller knows nothing in `text` folds (the stream redactor does), so no pass looks.
   */
  candidates(text: string, from?: number, folded?: boolean): Candidate[];
  resolve(text: string, candidates: Candidate[]): Detection[];
  /**
   * `texts.map((t) => scan(t))`, the same findings, with the texts that have nothing to fold read
   * joined (joined.ts: by APART, in pieces of at most JOINED_LIMIT characters; a lone text is
   * not copied). Each scan has a cost of its own in every detector (~0.6 µs: the last search of
   * each runs to the text's end and fails) and the detectors read a slice of a longer string
   * (scan's lines of a decoded chunk) slower than a flat one; the joined text is flat, but
   * joining copies. Slices pay (2,000 records in ~10 chunks: 9.1 → 8.8 ms), flat
   * strings do not (8.7 → 8.9). `folded[k]`: the caller knows nothing in `texts[k]` folds (as for
   * candidates), so no pass looks.
   */
  scanEach(texts: readonly string[], folded?: readonly boolean[]): Detection[][];
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

  function detect(text: string, from: number): Candidate[] {
    const out = candidateList();
    if (types.has('EMAIL')) detectEmails(text, out, from);
    if (types.has('API_KEY')) {
      detectKeys(text, out, from);
      detectUrlPasswords(text, out, from);
    }
    if (types.has('IBAN')) detectIbans(text, out, from);
    if (types.has('IP_ADDRESS')) detectIpv6(text, out, from);
    if (wantsNumbers) detectNumbers(text, out, numeric, from);
    return out;
  }

  function candidates(text: string, from = 0, folded = false): Candidate[] {
    const first = folded ? -1 : firstFold(text);
    if (first === -1) return detect(text, from);
    const stretches = text.length >= STRETCHES_FROM ? foldStretches(text, first, LOOK_BEHIND) : null;
    if (stretches !== null) return inStretches(text, from, stretches);
    const normalized = normalizeText(text, first)!;
    // Found in the folded text, reported on the original: the disguise goes with the value.
    const found = detect(normalized.text, normalized.foldedAt(from));
    for (const c of found) {
      c.start = normalized.startOf(c.start);
      c.end = glueEnd(text, normalized.endOf(c.end));
    }
    return found;
  }

  /**
   * A long text read as it is, but for the stretches around what folds, which are read folded
   * (normalize.ts): all of them in one text, each after its look-behind and apart from the next
   * by more than any detector looks across (a scan per stretch costs more than the stretch).
   */
  function inStretches(text: string, from: number, stretches: Int32Array): Candidate[] {
    // The text is read as it is in one pass, and what starts in a stretch is left to the folded
    // reading below. A stretch starts just past a hard break, so no value found before it reaches
    // into it. One pass over the whole text, not one per gap: a detector reads a slice of a long
    // string (V8's sliced string) char by char a third slower than the string itself.
    const found = detect(text, from);
    let kept = 0;
    for (const c of found) if (!within(stretches, c.start)) found[kept++] = c;
    found.length = kept;
    const pieces: string[] = [];
    const windows: Array<{ at: number; folded: NormalizedText; offset: number; first: number }> = [];
    let length = 0;
    for (let k = 0; k < stretches.length; k += 2) {
      const start = Math.max(stretches[k]!, from);
      const end = stretches[k + 1]!;
      if (start >= end) continue;
      const at = contextStart(text, start);
      const folded = normalizeText(text.slice(at, end));
      if (folded === null) continue;
      // Values start in the stretch; what comes before it is only read.
      windows.push({ at, folded, offset: length, first: length + folded.foldedAt(start - at) });
      pieces.push(folded.text, APART);
      length += folded.text.length + APART.length;
    }
    if (windows.length === 0) return found;
    const joined = pieces.join('');
    for (const c of detect(joined, 0)) {
      let lo = 0;
      for (let hi = windows.length - 1; lo < hi; ) {
        const mid = (lo + hi + 1) >> 1;
        if (windows[mid]!.offset <= c.start) lo = mid;
        else hi = mid - 1;
      }
      const w = windows[lo]!;
      if (c.start < w.first) continue;
      c.start = w.at + w.folded.startOf(c.start - w.offset);
      c.end = glueEnd(text, w.at + w.folded.endOf(c.end - w.offset));
      found.push(c);
    }
    return found;
  }

  /** Findings from candidates; `offset`: where the text they were found in starts in `text`. */
  function resolve(text: string, found: Candidate[], offset = 0): Detection[] {
    const kept = resolveOverlaps(text, found, risk);
    const result: Detection[] = [];
    for (const c of kept) {
      const value = text.slice(c.start, c.end);
      if (allowed(c.type, value)) continue;
      result.push({ type: c.type, start: c.start - offset, end: c.end - offset, value, risk: risk[c.type], confidence: c.confidence });
    }
    return result;
  }

  const scan = (text: string): Detection[] => resolve(text, candidates(text));

  function scanEach(texts: readonly string[], folded: readonly boolean[] = []): Detection[][] {
    const results = new Array<Detection[]>(texts.length);
    // Read together: texts with nothing to fold (the folded reading maps offsets per text). Each
    // starts and ends where the joined text has APART, which a detector reads as it reads a
    // text's start or end (whitespace: no letter, digit, sign or group space), and no decision
    // reads further than LOOK_BEHIND characters into it (test/pii/scan-each.test.ts).
    const together: number[] = [];
    for (let k = 0; k < texts.length; k++) {
      const text = texts[k]!;
      if (folded[k] === true || firstFold(text) === -1) together.push(k);
      else results[k] = scan(text);
    }
    for (const joined of joinTexts(together.map((k) => texts[k]!))) {
      // Each text's candidates, resolved on their own as scan() resolves them.
      const own = new Array<Candidate[] | undefined>(joined.count);
      for (const c of detect(joined.text, 0)) {
        const j = textAt(joined, c.start);
        // No value holds a line break, so none spans APART; were one to, every text is scanned alone.
        if (c.end > joined.starts[j + 1]! - APART.length) {
          for (const k of together) results[k] = scan(texts[k]!);
          return results;
        }
        const list = own[j];
        if (list === undefined) own[j] = [c];
        else list.push(c);
      }
      for (let j = 0; j < joined.count; j++) {
        const list = own[j];
        results[together[joined.first + j]!] = list === undefined ? [] : resolve(joined.text, list, joined.starts[j]!);
      }
    }
    return results;
  }

  return { candidates, resolve, scan, scanEach };
}

/**
 * An empty list made to hold objects from its start. `[]` holds small integers until its first
 * push, so the first detector to push to each scan's list (e-mail's) met two kinds of array, and
 * V8 threw its optimised code away twice in a fresh process's first rounds (a compile of ~15-30 ms
 * each); an array that has held an object keeps that kind when emptied.
 */
function candidateList(): Candidate[] {
  const out: Candidate[] = [PLACEHOLDER];
  out.length = 0;
  return out;
}
const PLACEHOLDER: Candidate = { type: 'EMAIL', start: 0, end: 0, confidence: 0 };

/** Whether `at` lies in one of the [start, end) pairs of `stretches` (in order, apart). */
function within(stretches: Int32Array, at: number): boolean {
  let lo = 0;
  let hi = stretches.length >> 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (stretches[2 * mid + 1]! <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo < stretches.length >> 1 && stretches[2 * lo]! <= at;
}

/** Where to start reading before `start` so that LOOK_BEHIND folded characters come first (or the text's start). */
function contextStart(text: string, start: number): number {
  for (let back = LOOK_BEHIND; ; back *= 2) {
    let at = Math.max(0, start - back);
    // Not between the halves of a surrogate pair.
    const c = text.charCodeAt(at);
    if (at > 0 && c >= 0xdc00 && c <= 0xdfff) at--;
    if (at === 0 || foldText(text.slice(at, start)).length >= LOOK_BEHIND) return at;
  }
}

function allowlist(opts: ScanOptions): (type: PiiType, value: string) => boolean {
  const domains = (opts.allowDomains ?? []).map((d) => d.trim().toLowerCase().replace(/^@+/, '').replace(/\.+$/, '')).filter(Boolean);
  const values = new Set(opts.allowValues ?? []);
  const emails = new Set((opts.allowValues ?? []).map((v) => v.toLowerCase()));
  if (domains.length === 0 && values.size === 0) return () => false;
  return (type, original) => {
    // A value is allowed in any disguise: `ceo\u200b@company.com` is `ceo@company.com`.
    const value = foldText(original);
    if (values.has(value) || values.has(original)) return true;
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
function resolveOverlaps(text: string, found: Candidate[], risk: Readonly<Record<PiiType, Risk>>): Candidate[] {
  if (found.length <= 1) return found;
  sortByPosition(found);
  const kept: Candidate[] = [];
  // Clusters are runs of the sorted list; most are one finding, kept without a list of its own.
  let first = 0;
  let clusterEnd = found[0]!.end;
  for (let i = 1; i <= found.length; i++) {
    const c = found[i];
    if (c !== undefined && c.start < clusterEnd) {
      if (c.end > clusterEnd) clusterEnd = c.end;
      continue;
    }
    if (i - first === 1) kept.push(found[first]!);
    else settle(text, found.slice(first, i), risk, kept);
    if (c !== undefined) {
      first = i;
      clusterEnd = c.end;
    }
  }
  return kept;
}

function byPosition(a: Candidate, b: Candidate): number {
  return a.start - b.start || b.end - a.end;
}

/**
 * `found.sort(byPosition)`, the same order (both are stable): a short list, as one record's
 * findings are, by insertion in place, since `Array.prototype.sort` costs more to set up than
 * sorting a few findings does (~0.25 µs a record, a third of the gap between 2,000 records
 * scanned one by one and the same text scanned whole); a longer one by merging its sorted runs.
 */
export function sortByPosition(found: Candidate[]): void {
  if (found.length > 16) {
    mergeRuns(found);
    return;
  }
  for (let i = 1; i < found.length; i++) {
    const c = found[i]!;
    let j = i - 1;
    while (j >= 0 && byPosition(found[j]!, c) > 0) {
      found[j + 1] = found[j]!;
      j--;
    }
    found[j + 1] = c;
  }
}

/**
 * A stable sort by position made for the list the detectors return: each detector's findings
 * come in order, so the list is a few sorted runs (one a detector, more for folded stretches),
 * merged here pairwise, the earlier run first on ties. `Array.prototype.sort` finds the runs
 * too, but calls the comparator from the runtime: 0.8 ms for the 4,748 candidates of the
 * near-miss text (seven runs), against ~0.1 ms here.
 */
function mergeRuns(found: Candidate[]): void {
  const n = found.length;
  const bounds: number[] = [0];
  for (let i = 1; i < n; i++) if (byPosition(found[i - 1]!, found[i]!) > 0) bounds.push(i);
  if (bounds.length === 1) return;
  bounds.push(n);
  let from = found;
  let to: Candidate[] = new Array<Candidate>(n);
  while (bounds.length > 2) {
    let kept = 0;
    for (let r = 0; r + 1 < bounds.length; r += 2) {
      const lo = bounds[r]!;
      const mid = bounds[r + 1]!;
      const hi = r + 2 < bounds.length ? bounds[r + 2]! : mid;
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) to[k++] = byPosition(from[i]!, from[j]!) <= 0 ? from[i++]! : from[j++]!;
      while (i < mid) to[k++] = from[i++]!;
      while (j < hi) to[k++] = from[j++]!;
      bounds[kept++] = lo;
    }
    bounds[kept++] = n;
    bounds.length = kept;
    [from, to] = [to, from];
  }
  if (from !== found) for (let i = 0; i < n; i++) found[i] = from[i]!;
}

function settle(text: string, cluster: Candidate[], risk: Readonly<Record<PiiType, Risk>>, kept: Candidate[]): void {
  if (cluster.length === 1) {
    kept.push(cluster[0]!);
    return;
  }
  // Length as the detectors read it: zero-width padding makes no value longer, and the stream
  // redactor's look-behind (kept folded) must rank a value as the whole text does. A plain span's
  // is its length, so a cluster of plain spans (most are) is ranked without a lookup.
  const disguised = cluster.some((c) => foldedLength(text, c.start, c.end) !== c.end - c.start);
  const length = disguised ? new Map(cluster.map((c) => [c, foldedLength(text, c.start, c.end)])) : null;
  const lengthOf = (c: Candidate): number => (length === null ? c.end - c.start : length.get(c)!);
  const ranked = [...cluster].sort(
    (a, b) =>
      lengthOf(b) - lengthOf(a) || RISK_RANK[risk[b.type]] - RISK_RANK[risk[a.type]] || b.confidence - a.confidence || a.start - b.start || PII_TYPES.indexOf(a.type) - PII_TYPES.indexOf(b.type),
  );
  const chosen: Candidate[] = [];
  for (const c of ranked) {
    if (chosen.every((k) => c.end <= k.start || c.start >= k.end)) chosen.push(c);
  }
  chosen.sort((a, b) => a.start - b.start);
  kept.push(...chosen);
}
