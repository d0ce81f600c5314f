import { useLayoutEffect, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { AgentPanel } from './panels/agent.js';
import { ApprovalsPanel } from './panels/approvals.js';
import { CostPanel } from './panels/cost.js';
import { EventLog } from './panels/events.js';
import { FleetPage } from './panels/fleet.js';
import { McpPanel } from './panels/mcp.js';
import { PerformancePanel } from './panels/performance.js';
import { ProtectionPanel } from './panels/protection.js';
import { SecretsPanel } from './panels/secrets.js';
import { StepsPanel } from './panels/steps.js';
import { TimelinePanel } from './panels/timeline.js';
import { Toasts } from './panels/toasts.js';
import { WatchPanel } from './panels/watch.js';
import { pickAgent } from './refresh.js';
import { selectedAgent, useStore } from './store.js';
import { LIVE_STATUSES, STATUS } from './status.js';
import type { Agent } from './types.js';
import { when } from './format.js';

export const FIRST_RENDER = 'iron-cage:first-render';

export function App(p: { onLogin: (token: string) => void }) {
  const s = useStore();
  // For the benchmark: navigation → the first render with the live snapshot in it.
  useLayoutEffect(() => {
    if (s.conn === 'live' && performance.getEntriesByName(FIRST_RENDER).length === 0) performance.mark(FIRST_RENDER);
  });
  if (s.auth === 'login') return <Login onLogin={p.onLogin} />;
  if (s.auth === 'invalid') return <AuthError message={s.authMessage} renew={s.renew} panel={s.mode === 'panel'} onLogin={p.onLogin} />;
  const agent = selectedAgent(s);
  return (
    <div class="app">
      <header class="top">
        <h1>
          <span aria-hidden="true">⛓</span> Iron Cage
        </h1>
        <AgentPicker />
        <div class="top-right">
          {s.role && (
            <span class="role" title={`${s.user} · ${s.role === 'viewer' ? 'viewer, read-only: a viewer token changes nothing' : s.role}`}>
              {s.user} · {s.role === 'viewer' ? 'viewer (read-only)' : s.role}
            </span>
          )}
          <ThemeToggle />
          <span class={`conn conn-${s.conn}`} data-testid="conn" data-state={s.conn} role="status">
            {s.conn === 'live' ? 'Live' : s.conn === 'reconnecting' ? 'Reconnecting…' : s.conn === 'connecting' ? 'Connecting…' : 'Offline'}
          </span>
        </div>
      </header>
      {/* A control panel shows its fleet; until the first snapshot there is nothing to lay out: one full layout, with data. */}
      {s.mode === 'panel' && s.auth === 'ok' ? (
        <FleetPage />
      ) : s.conn === 'connecting' || s.mode === 'panel' ? (
        <main class="grid" aria-busy="true" />
      ) : (
        // Three columns, each stacking its panels on its own (no row leaves a gap under a short
        // panel); on narrower screens the columns dissolve into one grid (styles.css).
        <main class="grid">
          <div class="col">
            {/* Calls waiting for a person first: an agent is held until someone decides. */}
            <ApprovalsPanel />
            <WatchPanel agent={agent} />
            <AgentPanel agent={agent} empty={s.conn === 'live' && s.agents.length === 0 ? <NoAgent /> : null} />
            <PerformancePanel agent={agent} />
          </div>
          <div class="col">
            <CostPanel agent={agent} />
            <EventLog />
          </div>
          <div class="col">
            <ProtectionPanel agent={agent} />
            {/* Only on a runtime with MCP servers configured (GET /api/mcp/servers, asked once at connect, says). */}
            <McpPanel />
            <SecretsPanel />
          </div>
          {/* The run on one time axis, full width under the columns, and what each step cost beside it. */}
          <div class="wide">
            <TimelinePanel agent={agent} />
            <StepsPanel agent={agent} />
          </div>
        </main>
      )}
      <Toasts />
    </div>
  );
}

const THEME_KEY = 'iron-cage-theme';

/** Dark by default (projectors); light on request, remembered in this browser. */
export function applyTheme(): void {
  document.documentElement.dataset.theme = localStorage.getItem(THEME_KEY) === 'light' ? 'light' : 'dark';
}

function ThemeToggle() {
  const [light, setLight] = useState(document.documentElement.dataset.theme === 'light');
  const flip = () => {
    localStorage.setItem(THEME_KEY, light ? 'dark' : 'light');
    applyTheme();
    setLight(!light);
  };
  return (
    <button type="button" class="btn small" data-testid="theme-toggle" aria-pressed={light} onClick={flip} title="Switch between the dark projector theme and a light one">
      {light ? '☾ Dark' : '☀ Light'}
    </button>
  );
}

function AgentPicker() {
  const s = useStore();
  if (s.agents.length === 0) return null;
  // The running ones first, then earlier runs, newest first.
  const rank = (a: Agent) => (LIVE_STATUSES.has(a.status) ? 0 : 1);
  const agents = [...s.agents].sort((a, b) => rank(a) - rank(b) || b.createdAt.localeCompare(a.createdAt));
  return (
    <label class="picker">
      <span class="sr-only">Agent</span>
      <select data-testid="agent-picker" value={s.picked ?? ''} onChange={(e) => pickAgent((e.target as HTMLSelectElement).value || null)}>
        {/* What the empty choice does now: follow a running agent, or (none running) show the newest run. */}
        <option value="">{agents.some((a) => rank(a) === 0) ? 'Follow the running agent' : 'The latest run'}</option>
        {agents.map((a) => (
          <option value={a.id} key={a.id}>
            {STATUS[a.status].icon} {a.calledName ?? a.name} · {a.id} · {rank(a) === 0 ? STATUS[a.status].label : `earlier run, ${when(a.createdAt)}`}
          </option>
        ))}
      </select>
    </label>
  );
}

function NoAgent() {
  return (
    <div class="empty" data-testid="no-agent">
      <p>
        <strong>No agent yet.</strong> Start one and it appears here live:
      </p>
      <pre>
        <code>npx iron-cage start agent.py --budget 50</code>
      </pre>
      <p class="muted small">
        or play the demo: <code>npx iron-cage demo</code>
      </p>
    </div>
  );
}

/** The login page; `LoginForm` alone is what the bad-link page shows right under its explanation. */
function Login(p: { onLogin: (token: string) => void }) {
  return (
    <main class="center">
      <LoginForm onLogin={p.onLogin} />
    </main>
  );
}

function LoginForm(p: { onLogin: (token: string) => void; embedded?: boolean }) {
  const { renew } = useStore();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.target as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      const res = await fetch('/api/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: form.get('name'), password: form.get('password') }),
      });
      const json = await res.json().catch(() => null);
      if (!res.ok) throw new ApiError(res.status, json?.error?.code ?? 'http_error', json?.error?.message ?? `HTTP ${res.status}`);
      p.onLogin(json.token);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" data-testid="login" onSubmit={submit}>
      {p.embedded ? (
        <h2>Log in as a dashboard user</h2>
      ) : (
        <>
          <h1>Iron Cage</h1>
          <p class="muted">
            Open the one-time link iron-cage printed when it started
            {renew ? (
              <>
                {' '}
                (or run <code data-testid="renew">{renew}</code> where it runs for a new one)
              </>
            ) : (
              ' (the same line says how to get a new one)'
            )}
            , or log in as a dashboard user.
          </p>
        </>
      )}
      <label>
        Name
        <input name="name" autocomplete="username" required />
      </label>
      <label>
        Password
        <input name="password" type="password" autocomplete="current-password" required />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" class="btn primary" disabled={busy}>
        {busy ? 'Logging in…' : 'Log in'}
      </button>
    </form>
  );
}

function AuthError(p: { message: string | null; renew: string | null; panel: boolean; onLogin: (token: string) => void }) {
  return (
    <main class="center">
      <div class="card" data-testid="auth-error" role="alert">
        <h1>This dashboard link no longer works</h1>
        <p>{p.message ? `It opens nothing: ${p.message}.` : 'Its login has been used, has expired or was revoked.'}</p>
        <p>To get a new one:</p>
        <ul>
          {p.panel ? (
            <>
              <li>
                {p.renew ? (
                  <>
                    run <code data-testid="renew">{p.renew}</code> where the panel runs (with its database, as it was started): it prints a one-time link;
                  </>
                ) : (
                  <>run the panel's link command, as its start line shows it: it prints a one-time link;</>
                )}
              </li>
              <li>or ask an admin for a user (Users, on this panel) and log in below.</li>
            </>
          ) : (
            <>
              <li>
                {p.renew ? (
                  <>
                    run <code data-testid="renew">{p.renew}</code> on the machine iron-cage runs on: it prints a one-time link;
                  </>
                ) : (
                  <>run the dashboard command iron-cage's start line shows, on the machine it runs on: it prints a one-time link;</>
                )}
              </li>
              <li>
                or ask an admin for a dashboard user (they add one with the <code>user add</code> command beside the one above) and log in below.
              </li>
            </>
          )}
        </ul>
      </div>
      <LoginForm onLogin={p.onLogin} embedded />
    </main>
  );
}
