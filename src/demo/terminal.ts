import { Writable } from 'node:stream';
import { escapeControl } from '../core/logger.js';
import { EtaEstimator } from './eta.js';
import { formatDuration, usd } from './format.js';

export { formatDuration };

// The demo's terminal: timestamped event lines scroll while one progress bar stays on the
// last line. Everything the demo prints goes through here (the runtime's logger writes to
// `stream`), so a line never lands in the middle of the bar. With --quiet, NO_COLOR or
// output that is not a terminal, the bar becomes a plain progress line every tenth of the run.

export interface DemoProgress {
  done: number;
  total: number;
  spentUsd: number;
  limitUsd: number | null;
}

export interface DemoTerminal {
  /** Whether the bar is drawn in place (a colour TTY without --quiet). */
  readonly live: boolean;
  /** For the logger: each line written here is printed above the bar. */
  readonly stream: Writable;
  /** One timestamped line (`[14:23:45] DEMO  text`). */
  say(text: string): void;
  /** Text as is (the results table), above the bar. */
  print(text: string): void;
  progress(p: DemoProgress): void;
  /** Leave the last bar on screen as a line of its own. */
  close(): void;
}

export interface TerminalOptions {
  out?: NodeJS.WriteStream | NodeJS.WritableStream;
  quiet?: boolean;
  env?: NodeJS.ProcessEnv;
  /** For the ETA; tests pass a fixed clock. */
  now?: () => number;
  /** The pace's time per lead in ms, where the ETA starts before the leads measure it (0: none). */
  planMsPerLead?: number;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');
const clock = (d: Date): string => `[${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}]`;

/** The bar's text (no colour): `[#####-----] 23/100 leads · $5.29 / $50.00 · ETA 2m10s`. */
export function progressLine(p: DemoProgress, etaMs: number | null, width = 24): string {
  const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
  const filled = Math.round(frac * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const spend = p.limitUsd === null ? `${usd(p.spentUsd)} spent` : `${usd(p.spentUsd)} / ${usd(p.limitUsd)}`;
  const eta = etaMs === null ? 'ETA --' : p.done >= p.total ? 'done' : `ETA ${formatDuration(etaMs)}`;
  return `${bar} ${p.done}/${p.total} leads · ${spend} · ${eta}`;
}

/**
 * The terminal for one demo run.
 *
 * @example
 * const t = createTerminal({ quiet: false });
 * t.say('Lead 50: rotating OPENAI_API_KEY');
 * t.progress({ done: 50, total: 100, spentUsd: 11.5, limitUsd: 50 });
 * t.close();
 */
export function createTerminal(o: TerminalOptions = {}): DemoTerminal {
  const out = o.out ?? process.stdout;
  const env = o.env ?? process.env;
  const now = o.now ?? Date.now;
  const live = !o.quiet && (out as { isTTY?: boolean }).isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
  const estimate = new EtaEstimator(o.planMsPerLead ?? null);
  let last: DemoProgress | null = null;
  let barShown = false;
  let plainStep = -1;

  const eta = (): number | null => estimate.at(now());
  const columns = (): number => (out as { columns?: number }).columns || 100;
  const clearBar = (): void => {
    if (barShown) out.write('\r\x1b[2K');
    barShown = false;
  };
  const drawBar = (): void => {
    if (!live || !last) return;
    const text = progressLine(last, eta()).slice(0, Math.max(10, columns() - 1));
    out.write(`\r\x1b[2K\x1b[36m${text}\x1b[0m`);
    barShown = true;
  };
  const above = (text: string): void => {
    clearBar();
    out.write(text.endsWith('\n') ? text : `${text}\n`);
    drawBar();
  };

  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      above(String(chunk));
      cb();
    },
  });

  return {
    live,
    stream,
    // Lines the demo composes may quote what the agent produced (a PII preview, an error): shown, never obeyed.
    say: (text) => above(`${clock(new Date())} ${live ? '\x1b[35mDEMO \x1b[0m' : 'DEMO '} ${escapeControl(text)}`),
    print: (text) => above(escapeControl(text, { lines: true })),
    progress(p) {
      last = p;
      estimate.update(p.done, p.total, now());
      if (live) return drawBar();
      // Plain output: one line per tenth of the run, and the last.
      const step = p.total > 0 ? Math.floor((p.done / p.total) * 10) : 0;
      if (step === plainStep) return;
      plainStep = step;
      above(`${clock(new Date())} DEMO  ${progressLine(p, eta())}`);
    },
    close() {
      if (live && last) {
        clearBar();
        out.write(`${progressLine(last, eta())}\n`);
      }
      barShown = false;
      last = null;
    },
  };
}
