import { oneLine } from '../core/excerpt.js';
import { applyRedactions, type Detection } from '../domain/pii/index.js';

const PREVIEW_CHARS = 240;
/** How much text either side of a finding its preview shows (redacted). */
const NEIGHBOURHOOD = 40;

/**
 * What an event may show of a text: the neighbourhood of each finding (NEIGHBOURHOOD characters
 * either side), redacted, joined by "…"; not the rest of the text, which may hold anything. An
 * excerpt is one line (src/core/excerpt.ts): the text's line breaks and runs of spaces are one space.
 * @example previewOf('… long text … mail bob@example.org now … more', ds) // '…xt … mail [EMAIL_REDACTED] now … mo…'
 */
export function previewOf(text: string, ds: readonly Detection[]): string {
  const parts: string[] = [];
  let from = -1;
  let to = -1;
  let inWindow: Detection[] = [];
  const close = () => {
    if (from < 0) return;
    const shifted = inWindow.map((d) => ({ ...d, start: d.start - from, end: d.end - from }));
    parts.push((from > 0 ? '…' : '') + oneLine(applyRedactions(text.slice(from, to), shifted, { mode: 'redact' })) + (to < text.length ? '…' : ''));
  };
  // Findings come sorted and apart; windows that touch are merged, so none cuts through a finding.
  for (const d of ds) {
    const start = Math.max(0, d.start - NEIGHBOURHOOD);
    if (from >= 0 && start <= to) {
      to = Math.max(to, Math.min(text.length, d.end + NEIGHBOURHOOD));
      inWindow.push(d);
      continue;
    }
    close();
    from = start;
    to = Math.min(text.length, d.end + NEIGHBOURHOOD);
    inWindow = [d];
  }
  close();
  return parts.join(' ').slice(0, PREVIEW_CHARS);
}
