// The control panel's fleet page: every runtime (online, last seen, behind by N), every agent
// across machines, spend by runtime, user, agent or model over 24 hours or 30 days, one agent's
// drill-down (its calls, events, tool calls and its runtime's breakers) and the live events of
// the batches as they land. Money arrives in integer micro-dollars and is formatted by the
// server's own rule (src/core/money.ts).
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { formatUsd } from '../../src/core/money.js';
import { chartSpend, chooseSpend, fleet, type FleetLiveEvent, isOnline, pickFleetAgent } from '../fleet-store.js';
import { ago, count, pct, time, when } from '../format.js';
import { STATUS } from '../status.js';
import { useStore } from '../store.js';
import type { FleetAgent, FleetAgentDetail, FleetRuntime, FleetSpend, SpendBy, SpendWindow } from '../types.js';
import { Figure, Name, Panel, useNow } from '../ui.js';
import { SpendChart } from './chart.js';

const usd = (micros: number) => formatUsd(micros);
const n = (v: number, one: string, many: string) => `${count(v)} ${v === 1 ? one : many}`;
const toUsd = (micros: number) => micros / 1_000_000;
/** Rows of a long list shown before "Show all". */
const FIRST_ROWS = 10;
const BY_LABEL: Record<SpendBy, string> = { runtime: 'Runtime', user: 'User', agent: 'Agent', model: 'Model' };
const WINDOW_LABEL: Record<SpendWindow, string> = { '24h': 'Last 24 hours', '30d': 'Last 30 days' };

export function FleetPage() {
  useStore();
  return (
    <main class="grid fleet" data-testid="fleet">
      <div class="col">
        <OverviewPanel />
        <RuntimesPanel />
      </div>
      <div class="col">
        <SpendPanel />
        <AgentsPanel />
      </div>
      <div class="col">
        <DrillPanel />
        <LivePanel />
      </div>
    </main>
  );
}

function OverviewPanel() {
  const o = fleet.overview;
  const now = useNow();
  const online = fleet.runtimes.filter((r) => isOnline(r, now)).length;
  return (
    <Panel title="Fleet" id="fleet-overview">
      {fleet.error && (
        <p class="error" role="alert">
          {fleet.error}
        </p>
      )}
      <div class="figures">
        <Figure label="Runtimes online" testid="fleet-online">
          {o ? `${online} of ${fleet.runtimes.length}` : '—'}
        </Figure>
        <Figure label="Agents running" testid="fleet-running">
          {o ? `${count(o.agents.running)}` : '—'}
          {o && <span class="muted"> of {count(o.agents.total)}</span>}
        </Figure>
        <Figure label="Spend today" testid="fleet-spend-today" sub={o ? `${n(o.today.calls, 'call', 'calls')}, ${n(o.today.errors, 'error', 'errors')}` : undefined}>
          {o ? usd(o.today.costMicros) : '—'}
        </Figure>
        <Figure label="Spend, 30 days" testid="fleet-spend-30d" sub={o ? `${n(o.last30d.calls, 'call', 'calls')}, ${n(o.last30d.errors, 'error', 'errors')}` : undefined}>
          {o ? usd(o.last30d.costMicros) : '—'}
        </Figure>
      </div>
    </Panel>
  );
}

function RuntimeState({ r, now }: { r: FleetRuntime; now: number }) {
  const on = isOnline(r, now);
  return (
    <span class={`rt-state tone-${on ? 'ok' : r.lastSeenAt === null ? 'idle' : 'bad'}`} data-testid="runtime-state" data-online={on}>
      {on ? '● Online' : r.lastSeenAt === null ? '○ Never seen' : '○ Offline'}
    </span>
  );
}

function RuntimesPanel() {
  const now = useNow() + fleet.skewMs;
  const rts = fleet.runtimes;
  return (
    <Panel title="Runtimes" id="fleet-runtimes">
      {rts.length === 0 ? (
        <p class="muted" data-testid="no-runtimes">
          No runtime yet. An admin adds one and gives its machine the token: <code>iron-cage start agent.py --panel URL --panel-token ic_rt_…</code>
        </p>
      ) : (
        <table class="table reflow fleet-runtimes" data-testid="fleet-runtimes">
          <caption class="sr-only">Runtimes</caption>
          <thead>
            <tr>
              <th scope="col">Runtime</th>
              <th scope="col">State</th>
              <th scope="col">Last seen</th>
              <th scope="col" class="num">
                Behind
              </th>
              <th scope="col" class="num">
                Agents
              </th>
              <th scope="col" class="num">
                Today
              </th>
            </tr>
          </thead>
          <tbody>
            {rts.map((r) => (
              <tr key={r.id} data-testid="fleet-runtime" data-runtime={r.id}>
                <td class="cell-name">
                  <Name text={r.id} />
                  {(r.user || r.hostname) && (
                    <div class="muted small">
                      {r.user ?? 'no user'}
                      {r.hostname && (
                        <>
                          {' · '}
                          <Name text={r.hostname} />
                        </>
                      )}
                    </div>
                  )}
                </td>
                <td class="cell-state">
                  <RuntimeState r={r} now={now - fleet.skewMs} />
                </td>
                <td class="cell-seen" data-label="seen" title={r.lastSeenAt === null ? undefined : new Date(r.lastSeenAt).toISOString()}>
                  {r.lastSeenAt === null ? <span class="muted">never</span> : ago(new Date(r.lastSeenAt).toISOString(), now)}
                </td>
                <td class="num cell-behind" data-label="behind" data-testid="runtime-behind">
                  {r.behind > 0 ? <span class="tone-warn">{count(r.behind)} rows</span> : <span class="muted">0</span>}
                </td>
                <td class="num cell-agents" data-label="agents">
                  {count(r.agentsRunning)}/{count(r.agents)}
                </td>
                <td class="num cell-today" data-label="today">
                  {usd(r.spentTodayMicros)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Panel>
  );
}

function Progress({ a }: { a: FleetAgent }) {
  const p = a.progress;
  if (p.total === null) return <>{p.done > 0 ? `${count(p.done)} ${p.unit}` : <span class="muted">—</span>}</>;
  return (
    <>
      {count(p.done)}/{count(p.total)} <span class="muted small">{pct((p.done / Math.max(1, p.total)) * 100)}</span>
    </>
  );
}

function AgentsPanel() {
  const now = useNow();
  const [all, setAll] = useState(false);
  const list = fleet.agents;
  const shown = list && !all ? list.slice(0, 25) : (list ?? []);
  const picked = fleet.picked;
  return (
    <Panel title="Agents" id="fleet-agents" actions={list && <span class="muted small">{count(list.length)} across machines</span>}>
      {list === null ? (
        <p class="muted">Loading…</p>
      ) : list.length === 0 ? (
        <p class="muted" data-testid="no-fleet-agents">
          No agent has reported yet.
        </p>
      ) : (
        <table class="table reflow fleet-agents" data-testid="fleet-agents">
          <caption class="sr-only">Agents across machines</caption>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col" class="num">
                Spend
              </th>
              <th scope="col">Last activity</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((a) => {
              const on = picked?.runtime === a.runtimeId && picked.id === a.id;
              const st = STATUS[a.status] ?? { icon: '·', label: a.status, tone: 'idle' };
              return (
                <tr key={`${a.runtimeId}/${a.id}`} class={on ? 'picked' : undefined} data-testid="fleet-agent" data-runtime={a.runtimeId} data-id={a.id}>
                  <td class="cell-name">
                    <button type="button" class="link" aria-pressed={on} onClick={() => pickFleetAgent(on ? null : { runtime: a.runtimeId, id: a.id })}>
                      <Name text={a.name} />
                    </button>
                    <div class="muted small">
                      <Name text={a.id} /> on <Name text={a.runtimeId} />
                    </div>
                  </td>
                  <td class={`cell-status tone-${st.tone}`}>
                    {st.icon} {st.label}
                  </td>
                  <td class="cell-progress" data-label="progress">
                    <Progress a={a} />
                  </td>
                  <td class="num cell-spend" data-label="spend" data-testid="fleet-agent-spend">
                    {usd(a.spentMicros)}
                    {a.limitMicros !== null && <span class="muted small"> of {usd(a.limitMicros)}</span>}
                  </td>
                  <td class="cell-last" data-label="last">
                    {a.lastActivityAt ? ago(a.lastActivityAt, now) : <span class="muted">none</span>}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {list && list.length > shown.length && (
        <button type="button" class="btn small" onClick={() => setAll(true)}>
          Show all {count(list.length)}
        </button>
      )}
    </Panel>
  );
}

/** A cumulative line over the window's buckets, each point at its bucket's end (the current one: now). */
function cumulative(s: FleetSpend, series: number[], now: number): Array<[number, number]> {
  if (s.buckets.length === 0) return [];
  const out: Array<[number, number]> = [[s.buckets[0]!, 0]];
  let sum = 0;
  s.buckets.forEach((b, i) => {
    sum += series[i] ?? 0;
    out.push([Math.min(b + s.bucketMs, Math.max(now, b + 1)), toUsd(sum)]);
  });
  return out;
}

function SpendPanel() {
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
              {usd(charted ? charted.costMicros : s.total.costMicros)}
            </Figure>
            <Figure label="Calls" testid="spend-calls">
              {count(charted ? charted.calls : s.total.calls)}
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
            <thead>
              <tr>
                <th scope="col">{BY_LABEL[s.by]}</th>
                <th scope="col" class="num">
                  Calls
                </th>
                <th scope="col" class="num">
                  Errors
                </th>
                <th scope="col" class="num">
                  Cost
                </th>
              </tr>
            </thead>
            <tbody>
              {s.rows.length === 0 && (
                <tr>
                  <td colSpan={4} class="muted">
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
                    <td class="num cell-errors" data-label="errors">
                      {count(r.errors)}
                    </td>
                    <td class="num cell-cost" data-label="cost" data-testid="spend-row-cost">
                      {usd(r.costMicros)}
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

/** The agent's spend over its latest calls: the total now, less what each later call cost. */
function callSeries(d: FleetAgentDetail): Array<[number, number]> {
  const calls = [...d.calls].reverse();
  let before = d.agent.spentMicros - calls.reduce((n, c) => n + c.costMicros, 0);
  return calls.map((c) => {
    before += c.costMicros;
    return [Date.parse(c.ts), toUsd(before)];
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

function DrillPanel() {
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
        <Figure label="Spent" testid="drill-spent" sub={a.limitMicros === null ? 'no limit' : `of ${usd(a.limitMicros)} (${pct(used)})`}>
          {usd(a.spentMicros)}
        </Figure>
        <Figure label="Calls" testid="drill-calls" sub={n(a.errors, 'error', 'errors')}>
          {count(a.calls)}
        </Figure>
        <Figure label="Progress" testid="drill-progress">
          <Progress a={a} />
        </Figure>
        <Figure label="Last activity" testid="drill-last">
          {a.lastActivityAt ? ago(a.lastActivityAt, now) : <span class="muted">none</span>}
        </Figure>
      </div>
      <SpendChart series={callSeries(d)} limitUsd={a.limitMicros === null ? null : toUsd(a.limitMicros)} />
      <h3 class="sub-head">Latest calls</h3>
      {d.calls.length === 0 ? (
        <p class="muted">no calls yet</p>
      ) : (
        <More rows={d.calls} what="calls">
          {(rows) => (
            <table class="table reflow drill-calls" data-testid="drill-calls-table">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Model</th>
                  <th scope="col">Status</th>
                  <th scope="col" class="num">
                    Tokens
                  </th>
                  <th scope="col" class="num">
                    Cost
                  </th>
                </tr>
              </thead>
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
                      {usd(c.costMicros)}
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
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Call</th>
                  <th scope="col" class="num">
                    Status
                  </th>
                  <th scope="col">Tier</th>
                </tr>
              </thead>
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
                <Name text={b.service} /> {state.replace('_', '-')}
                {snap.consecutiveFailures ? ` (${snap.consecutiveFailures} failures)` : ''}
              </li>
            );
          })}
        </ul>
      )}
    </Panel>
  );
}

function EventLine({ e, showAgent }: { e: FleetLiveEvent; showAgent: boolean }) {
  return (
    <li class={`fleet-event sev-${e.severity}`}>
      <span class="row-time">{time(e.ts)}</span>
      <span class={`sev sev-${e.severity}`}>{e.severity.toUpperCase().slice(0, 5)}</span>
      <span class="row-msg">
        {showAgent && (
          <span class="muted">
            <Name text={e.runtime} />
            {e.agentId && (
              <>
                /<Name text={e.agentId} />
              </>
            )}{' '}
          </span>
        )}
        {e.message}
      </span>
    </li>
  );
}

function LivePanel() {
  const [limit, setLimit] = useState(20);
  const live = fleet.live;
  return (
    <Panel title="Live" id="fleet-live" actions={<span class="muted small">events as batches land</span>}>
      {live.length === 0 ? (
        <p class="muted" data-testid="fleet-live-empty">
          Nothing yet: events show here as the runtimes report them.
        </p>
      ) : (
        <ul class="fleet-events" data-testid="fleet-live">
          {live.slice(0, limit).map((e) => (
            <EventLine key={`${e.runtime}/${e.seq}`} e={e} showAgent />
          ))}
        </ul>
      )}
      {live.length > limit && (
        <button type="button" class="btn small" onClick={() => setLimit(live.length)}>
          Show {live.length - limit} more
        </button>
      )}
    </Panel>
  );
}
