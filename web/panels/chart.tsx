// Spend over time: the line, and the budget and its 90% line once the spend nears them (scaled to
// the spend, never flattened under a far budget), in an SVG stretched to the plot, the
// axes' tick labels as HTML beside it (so text never stretches and takes the theme's colours).
// Thinned to at most one point per horizontal pixel column, so 10,000 points draw as fast as 100.
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { money, time } from '../format.js';
import { thin } from '../series.js';
import { moneyTicks, timeTicks } from '../ticks.js';

const W = 600;
const H = 180;
/** Room for one time label on the x axis, in CSS pixels. */
const X_LABEL_PX = 84;

/** `onPick`: a click on the plot asks for the calls around that time in the timeline. */
export function SpendChart({ series, limitUsd, onPick }: { series: Array<[number, number]>; limitUsd: number | null; onPick?: (ms: number) => void }) {
  const plot = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = plot.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    return () => ro.disconnect();
  }, [series.length === 0]);
  if (series.length === 0) return <div class="chart-empty muted">No spend yet: the line starts with the first charged call.</div>;
  const pts = thin(series, W);
  const t0 = pts[0]![0];
  const t1 = Math.max(pts[pts.length - 1]![0], t0 + 1000);
  const last = pts[pts.length - 1]!;
  const high = Math.max(...pts.map((p) => p[1]));
  // Scaled to the spend, up to the budget once it is near: the scale is at most twice the spend,
  // so the line fills at least half the height (never flat under a far budget), and the budget
  // and its 90% line show when the spend has come within half of it (growing smoothly into it).
  const y = moneyTicks(Math.max(high, limitUsd === null ? 0 : Math.min(limitUsd, 2 * high)), 4);
  const budgetDrawn = limitUsd !== null && limitUsd <= y.top;
  const warnDrawn = limitUsd !== null && limitUsd * 0.9 <= y.top;
  const xTicks = timeTicks(t0, t1, width > 0 ? Math.max(2, Math.floor(width / X_LABEL_PX)) : 3);
  const x = (t: number) => ((t - t0) / (t1 - t0)) * W;
  const yOf = (v: number) => H - (v / y.top) * H;
  const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${yOf(p[1]).toFixed(1)}`).join('');
  const labelWidth = Math.max(...y.ticks.map((t) => t.label.length));
  return (
    <figure class="chart" data-testid="spend-chart">
      <div class="chart-plot">
        <div class="chart-y" aria-hidden="true" style={{ '--label-ch': labelWidth }}>
          {y.ticks.map((t) => (
            <span class="tick tick-y" key={t.value} style={{ top: `${(1 - t.value / y.top) * 100}%` }}>
              {t.label}
            </span>
          ))}
        </div>
        {/* biome-ignore lint/a11y/useKeyWithClickEvents lint/a11y/noStaticElementInteractions: a pointer shortcut; the keyboard has the timeline's own strip */}
        <div
          class={onPick ? 'chart-area pickable' : 'chart-area'}
          ref={plot}
          data-testid="cost-chart-area"
          title={onPick ? 'Click a time to see its calls in the timeline' : undefined}
          onClick={(e) => {
            const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
            if (onPick && r.width > 0) onPick(t0 + ((e.clientX - r.left) / r.width) * (t1 - t0));
          }}
        >
          <svg
            data-testid="cost-chart"
            data-points={series.length}
            viewBox={`0 0 ${W} ${H}`}
            preserveAspectRatio="none"
            role="img"
            aria-label={`Spend over time: ${money(last[1])} by ${time(new Date(last[0]).toISOString())}${limitUsd !== null ? `, budget ${money(limitUsd)}` : ''}`}
          >
            {y.ticks.map((t) => (
              <line class="grid-line" key={t.value} x1="0" x2={W} y1={yOf(t.value)} y2={yOf(t.value)} vector-effect="non-scaling-stroke" />
            ))}
            {xTicks.map((t) => (
              <line class="grid-line" key={t.at} x1={x(t.at)} x2={x(t.at)} y1="0" y2={H} vector-effect="non-scaling-stroke" />
            ))}
            <line class="axis-line" x1="0" x2="0" y1="0" y2={H} vector-effect="non-scaling-stroke" />
            <line class="axis-line" x1="0" x2={W} y1={H} y2={H} vector-effect="non-scaling-stroke" />
            {budgetDrawn && <line class="line-budget" x1="0" x2={W} y1={yOf(limitUsd)} y2={yOf(limitUsd)} vector-effect="non-scaling-stroke" />}
            {warnDrawn && <line class="line-warn" x1="0" x2={W} y1={yOf(limitUsd * 0.9)} y2={yOf(limitUsd * 0.9)} vector-effect="non-scaling-stroke" />}
            <path class="line-spend" d={d} vector-effect="non-scaling-stroke" />
          </svg>
        </div>
        <div class="chart-x" aria-hidden="true">
          {xTicks.map((t) => {
            const at = (t.at - t0) / (t1 - t0);
            // The end labels keep inside the plot instead of hanging over its edge.
            const edge = at < 0.12 ? 'start' : at > 0.88 ? 'end' : 'mid';
            return (
              <span class={`tick tick-x tick-${edge}`} key={t.at} style={{ left: `${at * 100}%` }}>
                {t.label}
              </span>
            );
          })}
        </div>
      </div>
      <figcaption class="chart-legend">
        <span class="key key-spend">spend (USD) over time</span>
        {limitUsd !== null &&
          (warnDrawn ? (
            <>
              {budgetDrawn && <span class="key key-budget">budget {money(limitUsd)}</span>}
              <span class="key key-warn">90% {money(limitUsd * 0.9)}</span>
            </>
          ) : (
            <span class="key muted" data-testid="chart-budget-far">
              budget {money(limitUsd)}, above this scale
            </span>
          ))}
      </figcaption>
    </figure>
  );
}
