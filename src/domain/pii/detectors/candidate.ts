import type { PiiType } from '../types.js';

/** A detector's raw finding, before allowlists, risk and overlap resolution. */
export interface Candidate {
  type: PiiType;
  start: number;
  end: number;
  confidence: number;
}

/**
 * Finds candidates in `text`, starting none before `from` (earlier text is only read as
 * context: the stream redactor re-reads emitted text that ends on a hard break).
 */
export type Detector = (text: string, out: Candidate[], from?: number) => void;

// Values are short, and bounding them is what makes every scan linear and lets a stream
// hold back only a small window: nothing we report is longer than this, and no decision
// about a value reads further than LOOK_BEHIND before it or LOOK_AHEAD after it.
export const MAX_VALUE_LENGTH = 256;
export const LOOK_BEHIND = 32;
export const LOOK_AHEAD = 3;

/** Lower-cased text just before `start`, for keyword context ("Phone:", "SSN", "version"). */
export function textBefore(text: string, start: number, length = LOOK_BEHIND): string {
  return text.slice(Math.max(0, start - length), start).toLowerCase();
}
