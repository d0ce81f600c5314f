import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ActionButton } from '../action-button.js';
import { stopAvailability } from '../actions.js';
import { api } from '../api.js';
import { count, duration } from '../format.js';
import { getState, useStore } from '../store.js';
import { LIVE_STATUSES, STATUS } from '../status.js';
import type { Agent } from '../types.js';
import { barPart, Figure, Name, Panel, useNow } from '../ui.js';

/** What the agent is doing, how far it got, how well, and when it will be done. */
export function AgentPanel({ agent, empty }: { agent: Agent | null; empty: ComponentChildren }) {
  const now = useNow();
  const s = useStore();
  if (!agent)
    return (
      <Panel title="Agent" id="agent">
        {empty ?? <p class="muted">Waiting for the agent…</p>}
      </Panel>
    );
  const st = STATUS[agent.status];
  const { done, total, unit, succeeded, failed } = agent.progress;
  const started = agent.startedAt ? Date.parse(agent.startedAt) : null;
  const end = agent.endedAt && !LIVE_STATUSES.has(agent.status) ? Date.parse(agent.endedAt) : now;
  const uptime = started === null ? null : end - started;
  const share = total ? Math.min(100, (done / total) * 100) : null;
  const outcomes = (succeeded ?? 0) + (failed ?? 0);
  const perHour = s.performance[agent.id]?.throughput.perHour ?? (uptime && uptime > 0 ? (done / uptime) * 3_600_000 : 0);
  const eta = LIVE_STATUSES.has(agent.status) && total !== null && perHour > 0 ? ((total - done) / perHour) * 3_600_000 : null;
  return (
    <Panel title="Agent" id="agent" actions={<StopButton agent={agent} />}>
      <div class="agent-head">
        <span class={`status tone-${st.tone}`} data-testid="agent-status" data-status={agent.status}>
          <span aria-hidden="true">{st.icon}</span> {st.label}
        </span>
        <span class="agent-name">
          <span data-testid="agent-name" title={agent.calledName && agent.calledName !== agent.name ? `runs as ${agent.name}` : undefined}>
            {agent.calledName ?? agent.name}
          </span>{' '}
          <code>{agent.id}</code>
        </span>
      </div>
      <div class="progress">
        <div class="bar" role="progressbar" aria-label="progress" aria-valuemin={0} aria-valuemax={total ?? undefined} aria-valuenow={done}>
          <div class="bar-fill" style={barPart(share ?? 0)} />
        </div>
        <div class="progress-text" data-testid="agent-progress">
          {total !== null ? `${count(done)} / ${count(total)} ${unit} (${Math.round(share!)}%)` : `${count(done)} ${unit}`}
        </div>
      </div>
      <div class="figures">
        <Figure label="Success rate" testid="agent-success">
          {outcomes > 0 ? `${Math.round(((succeeded ?? 0) / outcomes) * 100)}% (${count(succeeded ?? 0)}/${count(outcomes)})` : <span class="muted">no outcomes reported</span>}
        </Figure>
        <Figure label="ETA" testid="agent-eta">
          {eta !== null ? duration(eta) : agent.status === 'completed' ? 'done' : '—'}
        </Figure>
        <Figure label="Uptime" testid="agent-uptime">
          {uptime === null ? '—' : duration(uptime)}
        </Figure>
        <Figure label="Restarts" testid="agent-restarts">
          {count(agent.restarts)}
        </Figure>
      </div>
      <p class="muted small">
        Secrets environment <strong>{agent.environment}</strong>
        {agent.script && (
          <>
            {' '}
            ·{' '}
            <code>
              <Name text={agent.script} />
            </code>
          </>
        )}
      </p>
      {agent.stored.items > 0 && (
        <p class="muted small" data-testid="agent-stored">
          Stored responses and conversations: <strong>{storedSize(agent.stored.bytes)}</strong> in {count(agent.stored.items)} item{agent.stored.items === 1 ? '' : 's'}
        </p>
      )}
      <Confinement sandbox={agent.sandbox} />
    </Panel>
  );
}

/** Bytes as a person reads them: 812 KB, 12.4 MB. */
function storedSize(bytes: number): string {
  return bytes < 1024 * 1024 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** What the agent may touch (src/sandbox): its folders, what it reaches, its limits; or that it runs with the user's rights, and why. */
function Confinement({ sandbox }: { sandbox: Agent['sandbox'] }) {
  if (sandbox === null) return null;
  if (!sandbox.sandboxed) {
    return (
      <p class="small tone-warn" data-testid="agent-sandbox" data-sandboxed="false">
        <span aria-hidden="true">⚠️</span> Not sandboxed: runs with your rights ({sandbox.why})
      </p>
    );
  }
  const l = sandbox.limits;
  return (
    <details class="small" data-testid="agent-sandbox" data-sandboxed="true">
      <summary>
        <span aria-hidden="true">🔒</span> Sandboxed: writes only <code>{sandbox.write[0]}</code>
        {sandbox.write.length > 1 ? ` and ${sandbox.write.length - 1} more` : ''}, reaches only the cage; {count(l.memoryMb)} MB memory, {count(l.processes)} processes
        {l.cpuSeconds === null ? '' : `, ${count(l.cpuSeconds)} s CPU`}
      </summary>
      <ul class="muted">
        <li>
          Writes:{' '}
          {sandbox.write.map((w) => (
            <code key={w}>{w} </code>
          ))}
        </li>
        {sandbox.read.length > 0 && (
          <li>
            Reads besides the system:{' '}
            {sandbox.read.map((r) => (
              <code key={r}>{r} </code>
            ))}
          </li>
        )}
        <li>
          Hidden:{' '}
          {sandbox.hidden.map((h) => (
            <code key={h}>{h} </code>
          ))}{' '}
          and iron-cage's own files
        </li>
        <li>Network: {sandbox.reach.join(', ')}, nothing else</li>
        <li>
          Limits: {count(l.memoryMb)} MB memory, {count(l.processes)} processes, {count(l.openFiles)} open files, {count(l.fileSizeMb)} MB per file
          {l.cpuSeconds === null ? '' : `, ${count(l.cpuSeconds)} s CPU`}
          {l.tmpMb === undefined ? '' : `, ${count(l.tmpMb)} MB in each of /tmp, /var/tmp, /dev/shm and its home (held in memory)`}
        </li>
      </ul>
    </details>
  );
}

function StopButton({ agent }: { agent: Agent }) {
  if (getState().role !== 'admin' || !LIVE_STATUSES.has(agent.status)) return null;
  return <StopAgent id={agent.id} />;
}

/** Stop (asks first); used by the panel and the budget pop-up. Off once a stop was asked, by anyone. */
export function StopAgent({ id, testid = 'agent-stop' }: { id: string; testid?: string }) {
  const s = useStore();
  const [confirming, setConfirming] = useState(false);
  const when = stopAvailability(id, s);
  if (!confirming || !when.ok) {
    return (
      <ActionButton when={when} class="btn danger" testid={testid} run={async () => setConfirming(true)}>
        Stop agent
      </ActionButton>
    );
  }
  return (
    <span class="confirm">
      <ActionButton when={when} class="btn danger" testid={`${testid}-confirm`} run={() => api(`/api/agents/${encodeURIComponent(id)}/stop`, { method: 'POST' })} onDone={() => setConfirming(false)}>
        Yes, stop it
      </ActionButton>
      <button type="button" class="btn" onClick={() => setConfirming(false)}>
        Cancel
      </button>
    </span>
  );
}
