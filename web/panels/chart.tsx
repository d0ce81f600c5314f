// Spend over time as hand-written SVG: the line, the budget and the 90% line. Thinned to at most
// one point per horizontal pixel column, so 10,000 points draw as fast as 100.
import { money, time } from '../format.js';
import { thin } from '../series.js';

const W = 600;
const H = 180;

export function SpendChart({ series, limitUsd }: { series: Array<[number, number]>; limitUsd: number | null }) {
  if (series.length === 0) return <div class="chart-empty muted">No spend yet: the line starts with the first charged call.</div>;
  const pts = thin(series, W);
  const t0 = pts[0]![0];
  const t1 = Math.max(pts[pts.length - 1]![0], t0 + 1000);
  const top = Math.max(limitUsd ?? 0, pts[pts.length - 1]![1]) * 1.08 || 1;
  const x = (t: number) => ((t - t0) / (t1 - t0)) * W;
  const y = (v: number) => H - (v / top) * H;
  const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join('');
  const last = pts[pts.length - 1]!;
  return (
    <figure class="chart">
      <svg
        data-testid="cost-chart"
        data-points={series.length}
        viewBox={`0 0 ${W} ${H}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={`Spend over time: ${money(last[1])} by ${time(new Date(last[0]).toISOString())}${limitUsd !== null ? `, budget ${money(limitUsd)}` : ''}`}
      >
        {limitUsd !== null && (
          <>
            <line class="line-budget" x1="0" x2={W} y1={y(limitUsd)} y2={y(limitUsd)} vector-effect="non-scaling-stroke" />
            <line class="line-warn" x1="0" x2={W} y1={y(limitUsd * 0.9)} y2={y(limitUsd * 0.9)} vector-effect="non-scaling-stroke" />
          </>
        )}
        <path class="line-spend" d={d} vector-effect="non-scaling-stroke" />
      </svg>
      <figcaption class="chart-legend">
        <span class="key key-spend">spend</span>
        {limitUsd !== null && (
          <>
            <span class="key key-budget">budget {money(limitUsd)}</span>
            <span class="key key-warn">90% {money(limitUsd * 0.9)}</span>
          </>
        )}
        <span class="muted">
          {time(new Date(t0).toISOString())} – {time(new Date(last[0]).toISOString())}
        </span>
      </figcaption>
    </figure>
  );
}
