// Numbers, money and times, formatted once: money by the server's rule (src/core/money.ts), the
// rest with Intl.
import { formatDuration } from '../src/core/duration.js';
import { formatUsd, usdToMicros } from '../src/core/money.js';

/** A formatter made on first use: building Intl formatters costs milliseconds the first paint should not wait for. */
function lazy<T>(make: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= make());
}

const int = lazy(() => new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 }));
const one = lazy(() => new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 }));
const clock = lazy(() => new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }));
const date = lazy(() => new Intl.DateTimeFormat('en-GB', { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }));
const rel = lazy(() => new Intl.RelativeTimeFormat('en', { numeric: 'auto', style: 'narrow' }));

/** `$5.29`; under a cent, two significant digits (`$0.00071`): the server's own rule, shared. */
export function money(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return formatUsd(usdToMicros(v));
}

export function count(v: number): string {
  return int().format(v);
}

/** `3 calls`, `1 error`: a count and its noun. */
export function counted(v: number, one: string, many: string): string {
  return `${count(v)} ${v === 1 ? one : many}`;
}

/**
 * An agent's calls said with their outcomes, refusals apart from errors: `21 calls · 19 refused · 0 errors`;
 * refusals said whenever there were some, errors always. `withCalls` false: without the calls.
 */
export function callsSub(a: { calls: number; errors: number; refused: number }, withCalls = false): string {
  const parts = withCalls ? [counted(a.calls, 'call', 'calls')] : [];
  if (a.refused > 0) parts.push(`${count(a.refused)} refused`);
  parts.push(counted(a.errors, 'error', 'errors'));
  return parts.join(' · ');
}

export function pct(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  // A little spend is not "0%".
  return v > 0 && v < 0.1 ? '<0.1%' : `${one().format(v)}%`;
}

/** `[14:23:45]` */
export function time(iso: string): string {
  return clock().format(new Date(iso));
}

export function when(iso: string): string {
  return date().format(new Date(iso));
}

/** `1h02m`, `3m05s`, `12s`: the product's one way (src/core/duration.ts). */
export const duration = formatDuration;

export function ms(v: number): string {
  return v >= 1000 ? `${one().format(v / 1000)} s` : `${int().format(v)} ms`;
}

/** `2 min. ago`, `yesterday`: how long since `iso`, from `now`. A moment after `now` (the page's clock ticks once a second; a server's clock may run ahead) is `now`, never `in 1 sec.`. */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.min(0, Math.round((Date.parse(iso) - now) / 1000));
  const a = Math.abs(s);
  if (a < 60) return rel().format(s, 'second');
  if (a < 3600) return rel().format(Math.round(s / 60), 'minute');
  if (a < 86_400) return rel().format(Math.round(s / 3600), 'hour');
  return rel().format(Math.round(s / 86_400), 'day');
}

/** A circuit's name as the page says it: an MCP server's and an LLM provider's say whose, as a tool service may share the name. */
export function breakerName(d: { kind: string; service: string }): string {
  return d.kind === 'mcp' ? `MCP server ${d.service}` : d.kind === 'provider' ? `${d.service} (LLM provider)` : d.service;
}

/**
 * A circuit's name from the key a runtime saves it under (`llm:openai`, `mcp:github`, a tool service's bare name).
 *
 * @example breakerOfKey('mcp:github') // 'MCP server github'
 */
export function breakerOfKey(key: string): string {
  const m = /^(llm|mcp):(.*)$/s.exec(key);
  return m ? breakerName({ kind: m[1] === 'llm' ? 'provider' : 'mcp', service: m[2]! }) : key;
}
