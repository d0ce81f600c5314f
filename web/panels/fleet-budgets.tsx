// The central budgets (each shared by many runtimes), each in its current window: who it covers,
// spent / leased out / unleased against its limit with the 90% mark, its state in words, the calls
// waiting for headroom, the runway at the current rate, and its leases: to which runtime, granted, spent,
// held, waiting, online or expired. Read-only: budgets are set with the CLI or the API.
import { useState } from 'preact/hooks';
import { formatUsd } from '../../src/core/money.js';
import { leaseState, period, runway, STATE, scopeLine, shares } from '../budgets.js';
import { fleet } from '../fleet-store.js';
import { ago, count, counted, pct } from '../format.js';
import type { BudgetView, LeaseView } from '../types.js';
import { TableHead } from '../table-head.js';
import { barPart, Figure, Name, Panel, useNow } from '../ui.js';

/** Leases listed before "Show all". */
const FIRST_LEASES = 8;

export function BudgetsPanel() {
  const list = fleet.budgets;
  const now = useNow();
  return (
    <Panel title="Budgets" id="fleet-budgets" actions={list && list.length > 0 && <span class="muted small">{counted(list.length, 'central budget', 'central budgets')}</span>}>
      {list === null ? (
        <p class="muted">Loading…</p>
      ) : list.length === 0 ? (
        <div class="empty" data-testid="no-budgets">
          <p class="muted">No central budget yet. An admin sets one on the panel, for an agent name, a user, a team or the whole fleet:</p>
          <pre>iron-cage panel budget set sales --limit 500 --period month --team --users ann,bob --database postgres://…</pre>
          <p class="muted small">
            or <code>POST /api/budgets</code>. Every runtime it covers then spends it only out of what the panel leases to it.
          </p>
        </div>
      ) : (
        <ul class="budgets" data-testid="budgets">
          {list.map((b) => (
            <Budget key={b.id} b={b} now={now} />
          ))}
        </ul>
      )}
    </Panel>
  );
}

function Budget({ b, now }: { b: BudgetView; now: number }) {
  const server = now + fleet.skewMs;
  const st = STATE[b.state];
  const s = shares(b);
  const left = runway(b, fleet.budgetsAt, server);
  const said = fleet.budgetSaid[b.id];
  const head = `budget-${b.id}`;
  return (
    <li class="budget" data-testid="budget" data-budget={b.id} data-state={b.state}>
      <div class="budget-head">
        <h3 id={head}>
          <Name text={b.id} />
        </h3>
        <span class={`budget-state tone-${st.tone}`} data-testid="budget-state">
          {st.icon} {st.label} · {pct(b.percentUsed)} used
          {b.refused > 0 && <span class="tone-refused"> · {counted(b.refused, 'call', 'calls')} refused</span>}
        </span>
      </div>
      <p class="muted small budget-scope" data-testid="budget-covers">
        {scopeLine(b)} · {period(b, server)}
      </p>
      <div
        class="bar budget-bar"
        role="img"
        aria-label={`${formatUsd(b.spentMicros)} spent, ${formatUsd(b.leasedMicros)} leased out, ${formatUsd(b.unleasedMicros)} unleased, of ${formatUsd(b.limitMicros)}; warning at 90%`}
      >
        <div class={`seg seg-spent tone-${st.tone}`} style={barPart(s.spent)} />
        <div class="seg seg-leased" style={barPart(s.leased, s.spent)} />
        <div class="bar-mark" style={{ left: '90%' }} title="90% warning" />
      </div>
      <div class="figures budget-figures">
        <Figure label="Spent" testid="budget-spent" sub={`of ${formatUsd(b.limitMicros)}`}>
          <span class="nowrap">
            <span class={`swatch seg-spent tone-${st.tone}`} aria-hidden="true" />
            {formatUsd(b.spentMicros)}
          </span>
        </Figure>
        <Figure label="Leased out" testid="budget-leased" sub={counted(b.leases.filter((l) => l.grantedMicros > l.spentMicros).length, 'runtime', 'runtimes')}>
          <span class="nowrap">
            <span class="swatch swatch-leased" aria-hidden="true" />
            {formatUsd(b.leasedMicros)}
          </span>
        </Figure>
        <Figure label="Unleased" testid="budget-unleased">
          <span class="nowrap">
            <span class="swatch swatch-unleased" aria-hidden="true" />
            {formatUsd(b.unleasedMicros)}
          </span>
        </Figure>
        <Figure
          label="Waiting calls"
          testid="budget-waiting"
          sub={
            b.refused > 0 ? (
              <span class="tone-refused" data-testid="budget-refused">
                {count(b.refused)} refused
              </span>
            ) : undefined
          }
        >
          {b.waiting > 0 ? <span class="tone-warn">{count(b.waiting)}</span> : '0'}
        </Figure>
        <Figure label="Runway" testid="budget-runway" sub={left.note ?? undefined} title="How long the unspent part lasts at the rate the runtimes holding its leases report">
          {left.text}
        </Figure>
      </div>
      {s.overMicros > 0 && (
        <p class="tone-bad small" data-testid="budget-over">
          ⛔ {formatUsd(s.overMicros)} over the limit: late rows of a runtime that had been taken as gone
        </p>
      )}
      {said && (
        <p class="small budget-said" data-testid="budget-said">
          <span class="muted">{ago(new Date(said.at).toISOString(), now)}:</span> {said.message}
        </p>
      )}
      <Leases b={b} now={server} />
    </li>
  );
}

function Leases({ b, now }: { b: BudgetView; now: number }) {
  const [all, setAll] = useState(false);
  if (b.leases.length === 0) return <p class="muted small">No runtime holds a lease in this window.</p>;
  const rows = all ? b.leases : b.leases.slice(0, FIRST_LEASES);
  return (
    <>
      <table class="table reflow budget-leases" data-testid="budget-leases">
        <caption class="sr-only">Leases of budget {b.id}</caption>
        <TableHead cols={['Runtime', 'Lease', 'Granted', 'Spent', 'Held', 'Waiting']} numFrom={2} />
        <tbody>
          {rows.map((l) => (
            <LeaseRow key={l.runtime} l={l} now={now} />
          ))}
        </tbody>
      </table>
      {b.leases.length > rows.length && (
        <button type="button" class="btn small" onClick={() => setAll(true)}>
          Show all {count(b.leases.length)} leases
        </button>
      )}
    </>
  );
}

function LeaseRow({ l, now }: { l: LeaseView; now: number }) {
  const st = leaseState(l, now);
  return (
    <tr data-testid="budget-lease" data-runtime={l.runtime} data-online={st.online}>
      <td class="cell-name">
        <Name text={l.runtime} />
      </td>
      <td class="cell-state" data-testid="lease-state" title={new Date(l.expiresAt).toISOString()}>
        <span class={`rt-state tone-${st.online ? 'ok' : 'idle'}`}>
          {st.online ? '●' : '○'} {st.label}
        </span>{' '}
        <span class="muted small">{st.detail}</span>
      </td>
      <td class="num cell-granted" data-label="granted" data-testid="lease-granted">
        {formatUsd(l.grantedMicros)}
      </td>
      <td class="num cell-spent" data-label="spent" data-testid="lease-spent">
        {formatUsd(l.spentMicros)}
      </td>
      <td class="num cell-held" data-label="held">
        {formatUsd(l.heldMicros)}
      </td>
      <td class="num cell-waiting" data-label="waiting" data-testid="lease-waiting">
        {l.waiting > 0 ? <span class="tone-warn">{count(l.waiting)}</span> : '0'}
      </td>
    </tr>
  );
}
