// The fleet's spend by runtime, user (the runtime's owner), agent name or model over the last
// 24 hours (hourly) or 30 days (daily): the totals, a cumulative chart of the whole or of the
// row picked, and a row per key, costliest first.
import { formatUsd, microsToUsd } from '../../src/core/money.js';
import { chartSpend, chooseSpend, fleet } from '../fleet-store.js';
import { count } from '../format.js';
import type { FleetSpend, SpendBy, SpendWindow } from '../types.js';
import { Figure, Name, Panel, useNow } from '../ui.js';
import { SpendChart } from './chart.js';
import { TableHead } from '../table-head.js';

const BY_LABEL: Record<SpendBy, string> = { runtime: 'Runtime', user: 'User', agent: 'Agent', model: 'Model' };
const WINDOW_LABEL: Record<SpendWindow, string> = { '24h': 'Last 24 hours', '30d': 'Last 30 days' };

/** A cumulative line over the window's buckets, each point at its bucket's end (the current one: now). */
function cumulative(s: FleetSpend, series: number[], now: number): Array<[number, number]> {
  if (s.buckets.length === 0) return [];
  const out: Array<[number, number]> = [[s.buckets[0]!, 0]];
  let sum = 0;
  s.buckets.forEach((b, i) => {
    sum += series[i] ?? 0;
    out.push([Math.min(b + s.bucketMs, Math.max(now, b + 1)), microsToUsd(sum)]);
  });
  return out;
}

export function SpendPanel() {
  const s = fleet.spend;
  const now = useNow() + fleet.skewMs;
  const charted = s && fleet.charted !== undefined ? s.rows.find((r) => r.key === fleet.charted) : undefined;
  const line = s ? cumulative(s, charted ? charted.series : s.total.series, now) : [];
  return (
    <Panel
      title="Spend"
      id="fleet-spend"
      actions={
        <div class="filters">
          <label>
            <span class="sr-only">Spend by</span>
            <select data-testid="spend-by" value={fleet.spendBy} onChange={(e) => chooseSpend((e.target as HTMLSelectElement).value as SpendBy, fleet.spendWindow)}>
              {(Object.keys(BY_LABEL) as SpendBy[]).map((b) => (
                <option value={b} key={b}>
                  by {BY_LABEL[b].toLowerCase()}
                </option>
              ))}
            </select>
          </label>
          <label>
            <span class="sr-only">Window</span>
            <select data-testid="spend-window" value={fleet.spendWindow} onChange={(e) => chooseSpend(fleet.spendBy, (e.target as HTMLSelectElement).value as SpendWindow)}>
              {(Object.keys(WINDOW_LABEL) as SpendWindow[]).map((w) => (
                <option value={w} key={w}>
                  {WINDOW_LABEL[w]}
                </option>
              ))}
            </select>
          </label>
        </div>
      }
    >
      {!s ? (
        <p class="muted">Loading…</p>
      ) : (
        <>
          <div class="figures">
            <Figure label={charted ? `${charted.label}, ${WINDOW_LABEL[s.window].toLowerCase()}` : WINDOW_LABEL[s.window]} testid="spend-total">
              {formatUsd(charted ? charted.costMicros : s.total.costMicros)}
            </Figure>
            <Figure label="Calls" testid="spend-calls">
              {count(charted ? charted.calls : s.total.calls)}
            </Figure>
            <Figure label="Refused" testid="spend-refused">
              {(charted ? charted.refused : s.total.refused) > 0 ? <span class="tone-refused">{count(charted ? charted.refused : s.total.refused)}</span> : '0'}
            </Figure>
            <Figure label="Errors" testid="spend-errors">
              {count(charted ? charted.errors : s.total.errors)}
            </Figure>
          </div>
          <SpendChart series={line} limitUsd={null} />
          <table class="table reflow fleet-spend" data-testid="fleet-spend">
            <caption class="sr-only">
              Spend by {BY_LABEL[s.by].toLowerCase()}, {WINDOW_LABEL[s.window].toLowerCase()}
            </caption>
            <TableHead cols={[BY_LABEL[s.by], 'Calls', 'Refused', 'Errors', 'Cost']} numFrom={1} />
            <tbody>
              {s.rows.length === 0 && (
                <tr>
                  <td colSpan={5} class="muted">
                    no spend in this window
                  </td>
                </tr>
              )}
              {s.rows.map((r) => {
                const on = charted === r;
                return (
                  <tr key={String(r.key)} class={on ? 'picked' : undefined} data-testid="spend-row" data-key={r.key ?? ''}>
                    <td class="cell-name">
                      <button type="button" class="link" aria-pressed={on} title="Chart this one" onClick={() => chartSpend(on ? undefined : r.key)}>
                        <Name text={r.label} />
                      </button>
                    </td>
                    <td class="num cell-calls" data-label="calls">
                      {count(r.calls)}
                    </td>
                    <td class={`num cell-refused${r.refused > 0 ? ' tone-refused' : ''}`} data-label="refused" data-testid="spend-row-refused">
                      {count(r.refused)}
                    </td>
                    <td class="num cell-errors" data-label="errors">
                      {count(r.errors)}
                    </td>
                    <td class="num cell-cost" data-label="cost" data-testid="spend-row-cost">
                      {formatUsd(r.costMicros)}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      )}
    </Panel>
  );
}
