import { pino, type Logger } from 'pino';

export type LogFormat = 'pretty' | 'json';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type { Logger };

export interface LoggerOptions {
  format: LogFormat;
  level: LogLevel;
  /** Defaults to stdout. Tests pass a stream to capture lines. */
  stream?: NodeJS.WritableStream;
  color?: boolean;
}

const COLORS: Record<string, string> = { debug: '\x1b[90m', info: '\x1b[34m', warn: '\x1b[33m', error: '\x1b[31m', fatal: '\x1b[31m' };
const RESET = '\x1b[0m';

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

/**
 * What a terminal or a line-based log would act on rather than show: C0 controls but TAB
 * (ESC starts CSI/OSC sequences; CR and LF forge lines), DEL, C1 controls, the Unicode line
 * and paragraph separators, and the bidi marks, embeddings, overrides and isolates that
 * reorder what is shown.
 */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_NOT_LF = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r' };

function visible(c: string): string {
  const code = c.charCodeAt(0);
  return NAMED[c] ?? (code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/**
 * The one escape for anything an agent controls on its way to a terminal or the pretty log:
 * control characters become visible escapes (`\x1b`, `\r`, `\n`, `\u202e`), so agent text
 * can neither colour, move, retitle nor forge lines. `lines: true` keeps LF for text that is
 * several lines on purpose (a table); every line is still escaped.
 *
 * @example
 * escapeControl('\x1b[31mFORGED\r\n[10:00:00] INFO x'); // '\\x1b[31mFORGED\\r\\n[10:00:00] INFO x'
 */
export function escapeControl(text: string, o: { lines?: boolean } = {}): string {
  const re = o.lines ? CONTROL_NOT_LF : CONTROL;
  re.lastIndex = 0;
  return re.test(text) ? text.replace(re, visible) : text;
}

/**
 * Terminal format from the spec: `[14:23:45] INFO  lg-7a3f9c2d Agent started`.
 * Written as a pino destination so there is one logger; pino hands us JSON lines.
 */
class PrettyDestination {
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly color: boolean,
  ) {}

  write(line: string): boolean {
    let rec: { level?: string; time?: string | number; msg?: string; agentId?: string; err?: { message?: string } };
    try {
      rec = JSON.parse(line);
    } catch {
      return this.out.write(line);
    }
    const d = rec.time !== undefined ? new Date(rec.time) : new Date();
    const ts = `[${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}]`;
    const level = (rec.level ?? 'info').toLowerCase();
    const label = level.toUpperCase().padEnd(5);
    const tag = this.color ? `${COLORS[level] ?? ''}${label}${RESET}` : label;
    // One record, one line: whatever the agent put in its text, ids or errors stays visible text.
    const who = rec.agentId ? `${escapeControl(String(rec.agentId))} ` : '';
    const err = rec.err?.message && !rec.msg?.includes(rec.err.message) ? `: ${rec.err.message}` : '';
    return this.out.write(`${ts} ${tag} ${who}${escapeControl(`${rec.msg ?? ''}${err}`)}\n`);
  }
}

export function createLogger(opts: LoggerOptions): Logger {
  const out = opts.stream ?? process.stdout;
  const color = opts.color ?? (opts.format === 'pretty' && (out as { isTTY?: boolean }).isTTY === true && !process.env.NO_COLOR);
  const destination = opts.format === 'json' ? out : new PrettyDestination(out, color);
  return pino(
    {
      level: opts.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination as NodeJS.WritableStream,
  );
}
