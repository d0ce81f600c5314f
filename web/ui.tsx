// Small pieces every panel uses: the panel frame, a labelled figure, the 1-second clock.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/** A panel; `anchor`: its element id, where a link's `#<anchor>` lands (the approval alert's `#approvals`). */
export function Panel(p: { title: string; id: string; children: ComponentChildren; actions?: ComponentChildren; anchor?: string }) {
  return (
    <section class={`panel panel-${p.id}`} id={p.anchor} aria-labelledby={`h-${p.id}`}>
      <header class="panel-head">
        <h2 id={`h-${p.id}`}>{p.title}</h2>
        {p.actions}
      </header>
      <div class="panel-body">{p.children}</div>
    </section>
  );
}

export function Figure(p: { label: string; testid: string; children: ComponentChildren; sub?: ComponentChildren; title?: string }) {
  return (
    <div class="figure" title={p.title}>
      <div class="figure-label">{p.label}</div>
      <div class="figure-value" data-testid={p.testid}>
        {p.children}
      </div>
      {p.sub !== undefined && <div class="figure-sub">{p.sub}</div>}
    </div>
  );
}

/**
 * A machine name (model, service, secret, path, runtime) kept whole: it moves to the next line as
 * one piece (`ci-runner-7`, never `ci-` / `runner-7`), and only a name longer than the whole line
 * wraps, after its separators (`-`, `_`, `.`, `/`, `:`), never inside a word: `linkedin-sales-` /
 * `navigator`, not `linkedi` / `n` (`.name`: an inline block no wider than its line).
 */
export function Name({ text }: { text: string }) {
  const parts = text.split(/(?<=[-_./:])/);
  return <span class="name">{parts.flatMap((part, i) => (i === 0 ? [part] : [<wbr key={i} />, part]))}</span>;
}

const tickers = new Set<(n: number) => void>();
let timer: ReturnType<typeof setInterval> | null = null;

/**
 * The current time, and a render once a second while a component uses it (uptime, countdowns).
 * The time is read as the component renders, not when the last second ticked: a render between
 * ticks (an approval that just landed) would otherwise count from up to a second ago, and a
 * ten-minute timeout would say "10m01s left".
 */
export function useNow(): number {
  const [, setNow] = useState(Date.now());
  useEffect(() => {
    tickers.add(setNow);
    timer ??= setInterval(() => {
      const t = Date.now();
      for (const f of tickers) f(t);
    }, 1000);
    return () => {
      tickers.delete(setNow);
      if (tickers.size === 0 && timer) {
        clearInterval(timer);
        timer = null;
      }
    };
  }, []);
  return Date.now();
}

/**
 * Where a bar's filled part lies: from `start`% of the bar for `share`% of it (each clamped to
 * 0-100). It is drawn full width and moved by a transform, which the compositor animates without
 * laying the page out again; a width or a left would, on every frame of each change's transition,
 * and a live run changes a bar several times a second (docs/benchmarks-history.md, "The dashboard under a
 * live run").
 *
 * @example <div class="bar-fill" style={barPart(42)} /> // the first 42% of the bar
 */
export function barPart(share: number, start = 0): { transform: string } {
  const pct = (n: number) => Math.max(0, Math.min(100, Number.isFinite(n) ? n : 0));
  return { transform: `translateX(${pct(start)}%) scaleX(${pct(share) / 100})` };
}
