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
    const who = rec.agentId ? `${rec.agentId} ` : '';
    const err = rec.err?.message && !rec.msg?.includes(rec.err.message) ? `: ${rec.err.message}` : '';
    return this.out.write(`${ts} ${tag} ${who}${rec.msg ?? ''}${err}\n`);
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
