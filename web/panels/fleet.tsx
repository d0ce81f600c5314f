// The control panel's fleet page: every runtime (online, last seen, behind by N, its MCP calls), every agent
// across machines, and where the other panels sit: spend by runtime, user, agent or model
// (fleet-spend.tsx), the central budgets and their leases (fleet-budgets.tsx), the calls held for a person (fleet-approvals.tsx), one agent's drill-down (fleet-agent.tsx) and the live events of the batches
// as they land (fleet-live.tsx). Money arrives in integer micro-dollars and is formatted by the
// server's own rule (src/core/money.ts).
import { useState } from 'preact/hooks';
import { formatUsd } from '../../src/core/money.js';
import { fleet, isOnline, pickFleetAgent } from '../fleet-store.js';
import { ago, callsSub, count, counted } from '../format.js';
import { STATUS } from '../status.js';
import { useStore } from '../store.js';
import type { FleetRuntime } from '../types.js';
import { Figure, Name, Panel, useNow } from '../ui.js';
import { DrillPanel, Progress } from './fleet-agent.js';
import { ApprovalPops, ApprovalsPanel } from './fleet-approvals.js';
import { BudgetsPanel } from './fleet-budgets.js';
import { LivePanel } from './fleet-live.js';
import { SpendPanel } from './fleet-spend.js';
import { TableHead } from '../table-head.js';

export function FleetPage() {
  useStore();
  return (
    <main class="grid fleet" data-testid="fleet">
      {/* Who runs what on the left (the agent list in the first screen, beside the budgets, not under them), money in the middle, one agent and the live log on the right. */}
      <div class="col">
        <OverviewPanel />
        <RuntimesPanel />
        <AgentsPanel />
      </div>
      <div class="col">
        <ApprovalsPanel />
        <BudgetsPanel />
        <SpendPanel />
      </div>
      <div class="col">
        <DrillPanel />
        <LivePanel />
      </div>
      <ApprovalPops />
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
        {/* Under its agents: the prompt injections they read (each runtime's Protection panel has the findings); a replica of an older panel, mid-upgrade, does not count them. */}
        <Figure label="Agents running" testid="fleet-running" sub={o?.injections ? <FleetInjections read={o.injections} /> : undefined}>
          {o ? `${count(o.agents.running)}` : '—'}
          {o && <span class="muted"> of {count(o.agents.total)}</span>}
        </Figure>
        <Figure label="Spend today" testid="fleet-spend-today" sub={o ? callsSub(o.today, true) : undefined}>
          {o ? formatUsd(o.today.costMicros) : '—'}
        </Figure>
        <Figure label="Spend, 30 days" testid="fleet-spend-30d" sub={o ? callsSub(o.last30d, true) : undefined}>
          {o ? formatUsd(o.last30d.costMicros) : '—'}
        </Figure>
      </div>
    </Panel>
  );
}

/** The prompt injections the fleet's agents read, over all time: said in red once there is one. */
function FleetInjections({ read }: { read: { total: number; agents: number } }) {
  return (
    <span
      class={read.total > 0 ? 'tone-bad' : undefined}
      data-testid="fleet-injections"
      data-count={read.total}
      title="Prompt injections the fleet's agents read in tool results, MCP messages and prompts, over all time"
    >
      {read.total > 0 ? `⚠️ ${counted(read.total, 'prompt injection', 'prompt injections')} read by ${counted(read.agents, 'agent', 'agents')}` : 'no prompt injection read'}
    </span>
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
          <TableHead cols={['Runtime', 'State', 'Last seen', 'Behind', 'Agents', 'MCP calls', 'Today']} numFrom={3} />
          <tbody>
            {rts.map((r) => (
              <tr key={r.id} data-testid="fleet-runtime" data-runtime={r.id}>
                <td class="cell-name">
                  <Name text={r.id} />
                  {(r.user || r.hostname) && (
                    <div class="muted small" data-testid="runtime-owner">
                      {r.user && (
                        <span title="the user it was added for (panel runtime add --user)">
                          <Name text={r.user} />
                        </span>
                      )}
                      {r.user && r.hostname && ' · '}
                      {r.hostname && <Name text={r.hostname} />}
                    </div>
                  )}
                </td>
                <td class="cell-state">
                  <RuntimeState r={r} now={now - fleet.skewMs} />
                  {r.injections > 0 && (
                    <div class="small tone-bad" data-testid="runtime-injections">
                      ⚠️ {counted(r.injections, 'prompt injection', 'prompt injections')} read
                    </div>
                  )}
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
                <td class="num cell-mcp" data-label="MCP calls" data-testid="runtime-mcp-calls" title="The tools/calls its agents made to MCP servers through the cage, as it reported them">
                  {r.mcpCalls > 0 ? count(r.mcpCalls) : <span class="muted">0</span>}
                </td>
                <td class="num cell-today" data-label="today">
                  {formatUsd(r.spentTodayMicros)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Panel>
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
          <TableHead cols={['Agent', 'Status', 'Progress', 'Spend', 'Last activity']} num={[3]} />
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
                      {a.sandboxed !== null && (
                        <span data-testid="fleet-agent-sandbox" data-sandboxed={String(a.sandboxed)} class={a.sandboxed ? undefined : 'tone-warn'}>
                          {' '}
                          · {a.sandboxed ? '🔒 sandboxed' : '⚠️ not sandboxed'}
                        </span>
                      )}
                    </div>
                  </td>
                  <td class={`cell-status tone-${st.tone}`}>
                    {st.icon} {st.label}
                    {/* Its calls with their outcomes: refusals said apart, in their colour. */}
                    <div class={`small ${a.refused > 0 ? 'tone-refused' : 'muted'}`} data-testid="fleet-agent-calls">
                      {callsSub(a, true)}
                    </div>
                    {a.injections > 0 && (
                      <div class="small tone-bad" data-testid="fleet-agent-injections">
                        ⚠️ {counted(a.injections, 'prompt injection', 'prompt injections')} read
                      </div>
                    )}
                  </td>
                  <td class="cell-progress" data-label="progress">
                    <Progress a={a} />
                  </td>
                  <td class="num cell-spend" data-label="spend">
                    <span data-testid="fleet-agent-spend">
                      {formatUsd(a.spentMicros)}
                      {a.limitMicros !== null && <span class="muted small"> of {formatUsd(a.limitMicros)}</span>}
                    </span>
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
