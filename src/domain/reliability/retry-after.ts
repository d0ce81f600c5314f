// Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Parsed by hand because
// Date.parse accepts almost anything ("1" is the year 2001) and a header must not do that.

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = MONTHS.join('|');
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) (${MONTH}) (\\d{4}) ${TIME} GMT$`);
const RFC850 = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-(${MONTH})-(\\d{2}) ${TIME} GMT$`);
const ASCTIME = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${MONTH}) ( \\d|\\d{2}) ${TIME} (\\d{4})$`);
const SECONDS = /^\d+(?:\.\d+)?$/;

function utc(year: number, month: string, day: number, h: string, m: string, s: string): number | null {
  const mi = MONTHS.indexOf(month);
  const t = Date.UTC(year, mi, day, Number(h), Number(m), Number(s));
  // Date.UTC rolls Feb 31 into March; a header that says Feb 31 is simply wrong.
  const d = new Date(t);
  const exact = d.getUTCDate() === day && d.getUTCHours() === Number(h) && d.getUTCMinutes() === Number(m) && d.getUTCSeconds() === Number(s);
  return exact ? t : null;
}

/** Epoch ms of an HTTP-date in any of its three allowed forms, or null. */
export function parseHttpDate(value: string): number | null {
  let m = IMF_FIXDATE.exec(value);
  if (m) return utc(Number(m[3]), m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  m = RFC850.exec(value);
  if (m) {
    // Two-digit years: RFC 9110 says read them as the most recent matching past year; the
    // 70 pivot is the common reading and only matters for dates nobody sends any more.
    const yy = Number(m[3]);
    return utc(yy < 70 ? 2000 + yy : 1900 + yy, m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  }
  m = ASCTIME.exec(value);
  if (m) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), m[3]!, m[4]!, m[5]!);
  return null;
}

type HeaderValue = string | readonly string[] | undefined | null;

function first(value: HeaderValue): string | null {
  const v = typeof value === 'string' ? value : value?.[0];
  return v === undefined || v === null ? null : v.trim();
}

/** Milliseconds to wait, from a Retry-After value; a date in the past means 0. Null if unreadable. */
export function parseRetryAfter(value: HeaderValue, nowMs: number): number | null {
  const v = first(value);
  if (v === null || v === '') return null;
  if (SECONDS.test(v)) return Math.round(Number(v) * 1000);
  const at = parseHttpDate(v);
  return at === null ? null : Math.max(0, at - nowMs);
}

/**
 * The wait an upstream asked for, from lower-case response headers. OpenAI and Anthropic also
 * send `retry-after-ms`, which is more precise, so it wins when it reads.
 */
export function retryAfterFromHeaders(headers: Readonly<Record<string, HeaderValue>>, nowMs: number): number | null {
  const ms = first(headers['retry-after-ms']);
  if (ms !== null && SECONDS.test(ms)) return Math.round(Number(ms));
  return parseRetryAfter(headers['retry-after'], nowMs);
}
