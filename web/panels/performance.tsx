import { ActionButton } from '../action-button.js';
import { type Availability, providerResetAvailability, resetAvailability } from '../actions.js';
import { api } from '../api.js';
import { count, duration, ms, pct } from '../format.js';
import { notifyError, selectedAgent, useStore } from '../store.js';
import { jumpTimeline } from '../timeline.js';
import type { Agent, BreakerView, FeedEvent, ProviderBreakerView } from '../types.js';
import { Figure, Name, Panel, useNow } from '../ui.js';
import { TableHead } from '../table-head.js';

/** How fast, how reliably, and each external service's circuit breaker. */
export function PerformancePanel({ agent }: { agent: Agent | null }) {
  const s = useStore();
  const p = agent ? s.performance[agent.id] : undefined;
  const lat = p?.llm.latencyMs;
  return (
    <Panel title="Performance" id="performance">
      <div class="figures">
        <Figure label="Throughput" testid="throughput">
          {p ? `${count(Math.round(p.throughput.perHour))} ${p.throughput.unit}/hour` : '—'}
        </Figure>
        <Figure label="LLM latency P50 / P95 / P99" testid="latency" sub={p?.llm.window ? `last ${count(p.llm.window)} calls` : undefined}>
          {lat ? `${ms(lat.p50)} / ${ms(lat.p95)} / ${ms(lat.p99)}` : <span class="muted">no calls yet</span>}
        </Figure>
        {/* Said as what it counts: the cache answers a tool call only when its service fails, so 0% means none needed it. */}
        <Figure label="Tool calls answered from cache" testid="cache-hit" sub={p?.tools.window ? `of the last ${count(p.tools.window)}` : undefined}>
          {p?.tools.cacheHitRate == null ? <span class="muted">no tool calls</span> : p.tools.cacheHitRate === 0 ? 'none' : pct(p.tools.cacheHitRate * 100)}
        </Figure>
        <Figure label="Uptime" testid="uptime-pct">
          {p?.uptimePercent != null ? pct(p.uptimePercent) : '—'}
        </Figure>
      </div>
      <h3 class="sub-head">Circuit breakers</h3>
      <Breakers list={s.breakers} providers={s.providers} />
    </Panel>
  );
}

/** A circuit's state as every breaker on the page shows it (the tool services' here, the MCP servers' in mcp.tsx). */
export const STATE_TEXT = { CLOSED: '🟢 CLOSED', OPEN: '🔴 OPEN', HALF_OPEN: '🟡 HALF_OPEN' } as const;

/**
 * The tool services' circuits, and an LLM provider's while it is not CLOSED: a provider's circuit
 * open is news (its calls go to model_fallbacks or are refused), a closed one is the normal case.
 */
function Breakers({ list, providers }: { list: BreakerView[] | null; providers: ProviderBreakerView[] | null }) {
  const now = useNow();
  const admin = useStore().role === 'admin';
  if (list === null) return <p class="muted small">…</p>;
  const tripped = (providers ?? []).filter((p) => p.state !== 'CLOSED');
  if (list.length === 0 && tripped.length === 0) return <p class="muted small">No external services configured (config: tools).</p>;
  return (
    <table class="table breakers reflow">
      <TableHead cols={['Service', 'State', 'Blocked', 'While open']} numFrom={2} />
      <tbody>
        {tripped.map((p) => (
          <ProviderRow p={p} now={now} admin={admin} key={`llm:${p.provider}`} />
        ))}
        {list.map((b) => (
          <BreakerRow b={b} now={now} admin={admin} key={b.service} />
        ))}
      </tbody>
    </table>
  );
}

/** An LLM provider's circuit that is not CLOSED: first in the list, with its Reset. */
function ProviderRow({ p, now, admin }: { p: ProviderBreakerView; now: number; admin: boolean }) {
  const name = `${p.provider} (LLM provider)`;
  return (
    <tr data-testid="provider-breaker" data-provider={p.provider} data-state={p.state} class={`breaker-${p.state.toLowerCase()}`}>
      <td class="cell-name" title={name}>
        <Name text={name} />
      </td>
      <td class="cell-state">
        {STATE_TEXT[p.state]}
        <RetryIn b={p} now={now} />
        {p.state === 'OPEN' && p.lastFailure && <div class="muted small">{p.lastFailure}</div>}
        {admin && (
          <BreakerReset
            when={providerResetAvailability(p.provider)}
            testid="provider-breaker-reset"
            path={`/api/breakers/providers/${encodeURIComponent(p.provider)}/reset`}
            what={name}
            title="Close the circuit now: the next call reaches the provider (recorded with your name)"
          />
        )}
      </td>
      <td class="num cell-blocked" data-label="Blocked">
        {count(p.blocked)}
      </td>
      <td class="num cell-saved" data-label="While open">
        <div class="muted small">the next model in model_fallbacks, else refused</div>
      </td>
    </tr>
  );
}

// The cooldown counts down from what the server said when it was fetched (not by the page's clock against the server's).
const seenAt = new WeakMap<object, number>();

/** An OPEN circuit's ` · retry in 12s`, counted down from the answer `b` came in; nothing in the other states. */
export function RetryIn({ b, now }: { b: { state: BreakerView['state']; retryAfterMs: number }; now: number }) {
  if (!seenAt.has(b)) seenAt.set(b, Date.now());
  if (b.state !== 'OPEN') return null;
  const left = b.retryAfterMs - (now - seenAt.get(b)!);
  return <span class="muted small"> · retry in {left > 0 ? duration(left) : 'a moment'}</span>;
}

/** An admin's Reset of a circuit not CLOSED (a tool service's here, an MCP server's in mcp.tsx): POST `path`, said on failure. */
export function BreakerReset({
  when,
  testid,
  path,
  what,
  title = 'Close the circuit now (recorded with your name)',
}: {
  when: Availability;
  testid: string;
  path: string;
  what: string;
  title?: string;
}) {
  return (
    <ActionButton when={when} class="btn small" testid={testid} title={title} run={() => api(path, { method: 'POST' })} onError={(e) => notifyError(`Reset of ${what} failed`, e)}>
      Reset
    </ActionButton>
  );
}

function BreakerRow({ b, now, admin }: { b: BreakerView; now: number; admin: boolean }) {
  return (
    <tr data-testid="breaker" data-service={b.service} data-state={b.state} class={`breaker-${b.state.toLowerCase()}`}>
      <td class="cell-name" title={b.service}>
        <Name text={b.service} />
      </td>
      <td class="cell-state">
        {STATE_TEXT[b.state]}
        <RetryIn b={b} now={now} />
        {b.state === 'OPEN' && b.lastFailure && <div class="muted small">{b.lastFailure}</div>}
        <ShowCalls service={b.service} />
        {b.state !== 'CLOSED' && admin && <BreakerReset when={resetAvailability(b.service)} testid="breaker-reset" path={`/api/breakers/${encodeURIComponent(b.service)}/reset`} what={b.service} />}
      </td>
      <td class="num cell-blocked" data-label="Blocked">
        {count(b.blocked)}
      </td>
      <td class="num cell-saved" data-label="While open">
        {b.display.saved}
        <div class="muted small">{b.display.fallback}</div>
      </td>
    </tr>
  );
}

/** The breaker's latest transition for this service, as the page has it. */
function lastTransition(events: readonly FeedEvent[], service: string): FeedEvent | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    // A provider or an MCP server may share the service's name: only the tool service's own.
    const own = e.type === 'tool.fallback' || (e.type === 'breaker.transition' && (e.data as { kind?: string }).kind === 'tool');
    if (own && (e.data as { service?: string }).service === service) return e;
  }
  return null;
}

/** The service's tool calls in the timeline, around its circuit's latest change (or now). */
function ShowCalls({ service }: { service: string }) {
  const s = useStore();
  const agent = selectedAgent(s);
  if (!agent) return null;
  const go = () => {
    const ev = lastTransition(s.events, service);
    jumpTimeline({
      agentId: agent.id,
      ms: ev ? Date.parse(ev.ts) : Date.now(),
      key: ev && ev.agentId === agent.id ? `ev:${ev.seq}` : undefined,
      pick: (items) => items.filter((i) => i.lane === 'tool' && i.detail.service === service).map((i) => i.key),
      missing: `No call to ${service} in the timeline around that time.`,
    });
  };
  return (
    <div>
      <button type="button" class="link small" data-testid="breaker-calls" onClick={go}>
        Show calls
      </button>
    </div>
  );
}
