// One agent of the fleet, picked in the agents list: its status, spend of its limit over its
// latest calls, its calls, events and tool calls (the first rows, "Show all" for the rest) and
// the breakers of its runtime.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { formatUsd, microsToUsd } from '../../src/core/money.js';
import { fleet, isOnline, pickFleetAgent } from '../fleet-store.js';
import { ago, breakerOfKey, callsSub, count, pct, time, when } from '../format.js';
import { STATUS } from '../status.js';
import type { FleetAgent, FleetAgentDetail } from '../types.js';
import { Figure, Name, Panel, useNow } from '../ui.js';
import { SpendChart } from './chart.js';
import { EventLine } from './fleet-live.js';
import { TableHead } from '../table-head.js';

/** Rows of a long list shown before "Show all". */
const FIRST_ROWS = 10;

/** An agent's progress: done of total (and the share), or what it has done in its own unit. */
export function Progress({ a }: { a: FleetAgent }) {
  const p = a.progress;
  if (p.total === null) return <>{p.done > 0 ? `${count(p.done)} ${p.unit}` : <span class="muted">—</span>}</>;
  return (
    <>
      {count(p.done)}/{count(p.total)} <span class="muted small">{pct((p.done / Math.max(1, p.total)) * 100)}</span>
    </>
  );
}

/** The agent's spend over its latest calls: the total now, less what each later call cost. */
function callSeries(d: FleetAgentDetail): Array<[number, number]> {
  const calls = [...d.calls].reverse();
  let before = d.agent.spentMicros - calls.reduce((n, c) => n + c.costMicros, 0);
  return calls.map((c) => {
    before += c.costMicros;
    return [Date.parse(c.ts), microsToUsd(before)];
  });
}

function More<T>(p: { rows: T[]; children: (rows: T[]) => ComponentChildren; what: string }) {
  const [all, setAll] = useState(false);
  const shown = all ? p.rows : p.rows.slice(0, FIRST_ROWS);
  return (
    <>
      {p.children(shown)}
      {p.rows.length > shown.length && (
        <button type="button" class="btn small" onClick={() => setAll(true)}>
          Show all {p.rows.length} {p.what}
        </button>
      )}
    </>
  );
}

export function DrillPanel() {
  const p = fleet.picked;
  const d = fleet.detail;
  const now = useNow();
  if (!p) {
    return (
      <Panel title="Agent" id="fleet-drill">
        <p class="muted" data-testid="drill-hint">
          Pick an agent in the list to see its calls, events, tool calls and breakers.
        </p>
      </Panel>
    );
  }
  const close = (
    <button type="button" class="btn small" data-testid="drill-close" onClick={() => pickFleetAgent(null)}>
      Close
    </button>
  );
  if (!d) {
    return (
      <Panel title="Agent" id="fleet-drill" actions={close}>
        {fleet.detailError ? <p class="error">{fleet.detailError}</p> : <p class="muted">Loading {p.id}…</p>}
      </Panel>
    );
  }
  const a = d.agent;
  const st = STATUS[a.status] ?? { icon: '·', label: a.status, tone: 'idle' };
  const used = a.limitMicros ? (a.spentMicros / a.limitMicros) * 100 : null;
  return (
    <Panel title="Agent" id="fleet-drill" actions={close}>
      <div class="agent-head" data-testid="drill" data-runtime={a.runtimeId} data-id={a.id}>
        <span class={`status tone-${st.tone}`}>
          {st.icon} {st.label}
        </span>
        <span class="agent-name">
          <Name text={a.name} /> · <Name text={a.id} /> on <Name text={a.runtimeId} />
          {d.runtime && !isOnline(d.runtime, now) && <span class="tone-bad"> (runtime offline)</span>}
        </span>
      </div>
      <div class="figures">
        <Figure label="Spent" testid="drill-spent" sub={a.limitMicros === null ? 'no limit' : `of ${formatUsd(a.limitMicros)} (${pct(used)})`}>
          {formatUsd(a.spentMicros)}
        </Figure>
        <Figure label="Calls" testid="drill-calls" sub={callsSub(a)}>
          {count(a.calls)}
        </Figure>
        <Figure label="Progress" testid="drill-progress">
          <Progress a={a} />
        </Figure>
        <Figure label="Last activity" testid="drill-last">
          {a.lastActivityAt ? ago(a.lastActivityAt, now) : <span class="muted">none</span>}
        </Figure>
      </div>
      <SpendChart series={callSeries(d)} limitUsd={a.limitMicros === null ? null : microsToUsd(a.limitMicros)} />
      <h3 class="sub-head">Latest calls</h3>
      {d.calls.length === 0 ? (
        <p class="muted">no calls yet</p>
      ) : (
        <More rows={d.calls} what="calls">
          {(rows) => (
            <table class="table reflow drill-calls" data-testid="drill-calls-table">
              <TableHead cols={['Time', 'Model', 'Status', 'Tokens', 'Cost']} numFrom={3} />
              <tbody>
                {rows.map((c) => (
                  <tr key={c.id}>
                    <td class="cell-time">{time(c.ts)}</td>
                    <td class="cell-name">
                      <Name text={c.model} />
                    </td>
                    <td class={`cell-status tone-${c.status === 'ok' ? 'ok' : 'bad'}`} title={c.error ?? undefined}>
                      {c.status}
                      {c.httpStatus !== null && c.status !== 'ok' ? ` ${c.httpStatus}` : ''}
                    </td>
                    <td class="num cell-tokens" data-label="tokens">
                      {count(c.promptTokens)}+{count(c.completionTokens)}
                    </td>
                    <td class="num cell-cost" data-label="cost">
                      {formatUsd(c.costMicros)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </More>
      )}
      <h3 class="sub-head">Events</h3>
      {d.events.length === 0 ? (
        <p class="muted">no events</p>
      ) : (
        <More rows={d.events} what="events">
          {(rows) => (
            <ul class="fleet-events" data-testid="drill-events">
              {rows.map((e) => (
                <EventLine key={e.seq} e={{ ...e, runtime: a.runtimeId }} showAgent={false} />
              ))}
            </ul>
          )}
        </More>
      )}
      <h3 class="sub-head">Tool calls</h3>
      {d.toolCalls.length === 0 ? (
        <p class="muted">no tool calls</p>
      ) : (
        <More rows={d.toolCalls} what="tool calls">
          {(rows) => (
            <table class="table reflow drill-tools" data-testid="drill-tools">
              <TableHead cols={['Time', 'Call', 'Status', 'Tier']} num={[2]} />
              <tbody>
                {rows.map((t) => (
                  <tr key={t.id}>
                    <td class="cell-time">{time(t.ts)}</td>
                    <td class="cell-name">
                      {t.method} <Name text={`${t.service}${t.path}`} />
                    </td>
                    <td class={`num cell-status tone-${t.status < 400 ? 'ok' : 'bad'}`} data-label="status">
                      {t.status}
                    </td>
                    <td class="cell-tier" data-label="tier">
                      {t.tier ?? t.reason}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </More>
      )}
      <h3 class="sub-head">Breakers of {a.runtimeId}</h3>
      {d.breakers.length === 0 ? (
        <p class="muted">no breaker has tripped or been saved</p>
      ) : (
        <ul class="chips" data-testid="drill-breakers">
          {d.breakers.map((b) => {
            const snap = (b.snapshot ?? {}) as { state?: string; consecutiveFailures?: number };
            const state = snap.state ?? 'unknown';
            return (
              <li key={b.service} class={`chip tone-${state === 'CLOSED' ? 'ok' : state === 'OPEN' ? 'bad' : 'warn'}`} title={`saved ${when(b.updatedAt)}`}>
                <Name text={breakerOfKey(b.service)} /> {state.replace('_', '-')}
                {snap.consecutiveFailures ? ` (${snap.consecutiveFailures} failures)` : ''}
              </li>
            );
          })}
        </ul>
      )}
    </Panel>
  );
}
