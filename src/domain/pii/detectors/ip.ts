import { isDigit, isHex, isWordChar, runsOn, runsOnBefore } from '../chars.js';
import { textBefore, type Candidate } from './candidate.js';

/** Four decimal octets 0..255 without leading zeros (so 01.02.03.04 is not an address). */
export function validIpv4(dotted: string): boolean {
  let octets = 0;
  let i = 0;
  while (i <= dotted.length) {
    let value = 0;
    const start = i;
    while (i < dotted.length && isDigit(dotted.charCodeAt(i))) value = value * 10 + dotted.charCodeAt(i++) - 48;
    const length = i - start;
    if (length === 0 || length > 3 || (length > 1 && dotted.charCodeAt(start) === 48) || value > 255) return false;
    octets++;
    if (i === dotted.length) break;
    if (dotted.charCodeAt(i) !== 46) return false;
    i++;
  }
  return octets === 4;
}

// Words after which dotted quads are versions or section numbers, not addresses.
const NOT_ADDRESS_WORDS =
  /(?:^|[^a-z])(?:versions?|ver|v|releases?|released|build|firmware|fw|revision|rev|patch|bump(?:ed)?|upgrade[ds]?|updated?|tag|sdk|semver|sections?|sec|§|clause|chapter|ch|figure|fig|table|step|item|article|art|para(?:graph)?|rule|oid)[^a-z0-9]*(?:to[^a-z0-9]+)?$/;

// What gets deployed or installed is a release (`deploy 11.2.0.185 to eu-west-1`); "to" is not
// allowed after these, since `deployed to 10.0.0.5` names a host.
const RELEASE_WORDS = /(?:^|[^a-z])(?:deploy(?:ed|ing|s)?|install(?:ed|ing|s)?|rollout|rolled out|pinned|pin)[^a-z0-9]*$/;

/**
 * `1.2.3.4` after "version", "section" or "deploy", `Chrome/120.0.0.0` (product/version) and
 * `1.2.3.4-beta` are numbers that happen to look like addresses.
 */
export function looksLikeVersion(text: string, start: number, end: number): boolean {
  const before = text[start - 1];
  if (before === '/' && /[a-z]/i.test(text[start - 2] ?? '')) return true;
  if (text[end] === '-' && /[a-z]/i.test(text[end + 1] ?? '')) return true;
  const words = textBefore(text, start, 24);
  return NOT_ADDRESS_WORDS.test(words) || RELEASE_WORDS.test(words);
}

const MAX_RUN = 64;

/**
 * The next ':' at or after `i` that at most four hex digits part from another ':' (what
 * /:[0-9A-Fa-f]{0,4}:/ matches first), or -1. Found by indexOf: a colon is rare enough that this
 * costs half what the regex did, which tried every character.
 */
function nextColonPair(text: string, i: number): number {
  for (let at = text.indexOf(':', i); at !== -1; at = text.indexOf(':', at + 1)) {
    let j = at + 1;
    const limit = Math.min(text.length, at + 5);
    while (j < limit && isHex(text.charCodeAt(j))) j++;
    if (text.charCodeAt(j) === 58) return at;
  }
  return -1;
}

function isV6Char(c: number): boolean {
  return isHex(c) || c === 58 || c === 46; // ':' '.'
}

/** IPv6, found from a pair of colons at most four hex digits apart (no `::`-free text costs a colon test). */
export function detectIpv6(text: string, out: Candidate[], from = 0): void {
  for (let colon = nextColonPair(text, from), next = 0; colon !== -1; colon = nextColonPair(text, next)) {
    let start = colon;
    const floor = Math.max(0, colon - MAX_RUN);
    while (start > floor && isV6Char(text.charCodeAt(start - 1)) && text[start - 1] !== '.') start--;
    let end = colon;
    const ceiling = Math.min(text.length, colon + MAX_RUN + 1);
    while (end < ceiling && isV6Char(text.charCodeAt(end))) end++;
    next = Math.max(end, colon + 1);
    const prev = text.charCodeAt(start - 1);
    if (text.charCodeAt(start) === 58 && text.charCodeAt(start + 1) !== 58) {
      start++; // `ip:2001:db8::1`, `: 2001…`: one ':' before the run is a label's, not the address's
    } else if (runsOnBefore(text, start) || prev === 58 || (prev === 46 && continuesNumber(text.charCodeAt(start - 2)))) {
      continue; // `1.2::3` continues a number; a '.' after a space or at the start ends a sentence (`。2001:db8::1`)
    }
    if (end - start > MAX_RUN) continue;
    while (end > start && text[end - 1] === '.') end--;
    // `2001:db8::1: unreachable`: one ':' after it is the sentence's.
    if (text.charCodeAt(end - 1) === 58 && text.charCodeAt(end - 2) !== 58) end--;
    if (runsOn(text, end)) continue; // ab:cd::ef-ghi, std::vector
    if (!enoughColons(text, start, end)) continue; // 10:22:01, 12:30:45.123
    const value = text.slice(start, end);
    if (!validIpv6(value)) continue;
    out.push({ type: 'IP_ADDRESS', start, end, confidence: 0.85 });
  }
}

function continuesNumber(c: number): boolean {
  return isWordChar(c) || c === 46 || c === 58;
}

/** Eight groups need seven colons, six with an IPv4 tail; fewer only with a `::` gap. */
function enoughColons(text: string, start: number, end: number): boolean {
  let colons = 0;
  for (let i = start; i < end; i++) {
    if (text.charCodeAt(i) !== 58) continue;
    if (text.charCodeAt(i + 1) === 58) return true;
    colons++;
  }
  return colons >= 6;
}

/** How many ':'-separated groups of 1-4 hex digits s[from, to) is (0 when empty), or -1; read in place (no split). */
export function validGroups(s: string, from: number, to: number): number {
  if (from === to) return 0;
  let groups = 1;
  let length = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 58) {
      if (length === 0) return -1;
      groups++;
      length = 0;
    } else if (!isHex(c) || ++length > 4) {
      return -1;
    }
  }
  return length === 0 ? -1 : groups;
}

export function validIpv6(s: string): boolean {
  let body = s;
  let extra = 0;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    // ::ffff:192.0.2.1 — an IPv4 tail stands for the last two groups.
    if (!validIpv4(s.slice(lastColon + 1))) return false;
    const head = s.slice(0, lastColon + 1);
    body = head.endsWith('::') ? head : head.slice(0, -1);
    extra = 2;
  }
  if (!/\d/.test(s)) return false; // dead::beef, a::b: words, not addresses
  const gap = body.indexOf('::');
  if (gap === -1) return validGroups(body, 0, body.length) + extra === 8;
  if (body.indexOf('::', gap + 1) !== -1) return false;
  const head = validGroups(body, 0, gap);
  const tail = validGroups(body, gap + 2, body.length);
  if (head < 0 || tail < 0 || head + tail + extra > 7) return false;
  return head + tail + extra >= 2 || s === '::1';
}
