import { mcpResetAvailability } from '../actions.js';
import { ago, count, counted, money } from '../format.js';
import { useStore } from '../store.js';
import { TableHead } from '../table-head.js';
import type { McpServerView } from '../types.js';
import { Figure, Name, Panel, useNow } from '../ui.js';
import { BreakerReset, RetryIn, STATE_TEXT } from './performance.js';

// The MCP servers agents reach through the cage (GET /api/mcp/servers): each with its
// transport, rules and breaker, its calls, errors, refusals and cost, and its tools as seen in
// calls and as the last tools/list through the cage offered them (the page opens no session of
// its own). Shown only on a runtime that has MCP servers configured.

const TRANSPORT: Record<McpServerView['transport'], string> = { 'streamable-http': 'streamable HTTP', sse: 'HTTP+SSE', auto: 'HTTP (auto)', stdio: 'stdio' };

export function McpPanel() {
  const s = useStore();
  const list = s.mcp;
  if (list === null || list.length === 0) return null;
  const own = s.role === 'agent';
  return (
    <Panel title="MCP servers" id="mcp" actions={<span class="muted small">{own ? "this agent's calls" : `${count(list.length)} through the cage`}</span>}>
      {list.map((m) => (
        <Server m={m} key={m.name} />
      ))}
      <p class="muted small">Tools as seen in calls, and as offered to agents by their last tools/list through the cage since it started.</p>
    </Panel>
  );
}

/** `allow: search_*, get_* · deny: delete_*`: what the server's rules let through. */
function rules(m: McpServerView): string {
  const allow = m.allow === null ? 'every tool' : m.allow.length === 0 ? 'no tool' : m.allow.join(', ');
  return `allow ${allow}${m.deny.length > 0 ? ` · deny ${m.deny.join(', ')}` : ''}`;
}

/** What a call costs: the server's price, and the tools with their own. */
function price(m: McpServerView): string | undefined {
  const own = Object.keys(m.toolCostsUsd).length;
  if (m.costPerCallUsd === 0 && own === 0) return undefined;
  return `${money(m.costPerCallUsd)} a call${own > 0 ? `, ${count(own)} ${own === 1 ? 'tool' : 'tools'} priced apart` : ''}`;
}

function Server({ m }: { m: McpServerView }) {
  const now = useNow();
  const admin = useStore().role === 'admin';
  const b = m.breaker;
  return (
    <section class={`mcp-server breaker-${b.state.toLowerCase()}`} data-testid="mcp-server" data-server={m.name} data-state={b.state} aria-label={`MCP server ${m.name}`}>
      <div class="mcp-head">
        <h3 class="mcp-name">
          <Name text={m.name} />
        </h3>
        <span class="chip" data-testid="mcp-transport">
          {TRANSPORT[m.transport]}
        </span>
        <span class="mcp-breaker" data-testid="mcp-breaker" title={`opens after ${count(b.failureThreshold)} failures in a row, for ${Math.round(b.cooldownMs / 1000)} s`}>
          {STATE_TEXT[b.state]}
          <RetryIn b={b} now={now} />
          {b.state === 'CLOSED' && b.consecutiveFailures > 0 && (
            <span class="muted small">
              {' '}
              · {count(b.consecutiveFailures)} of {count(b.failureThreshold)} failures
            </span>
          )}
        </span>
        {b.state !== 'CLOSED' && admin && (
          <BreakerReset
            when={mcpResetAvailability(m.name)}
            testid="mcp-breaker-reset"
            path={`/api/breakers/mcp/${encodeURIComponent(m.name)}/reset`}
            what={`MCP server ${m.name}`}
            title="Close the circuit now: the next tools/call reaches the server (recorded with your name)"
          />
        )}
      </div>
      {(m.target || m.headers.length > 0) && (
        <div class="muted small mcp-target">
          {m.target && <Name text={m.target} />}
          {m.headers.length > 0 && <> · sends {m.headers.join(', ')}</>}
        </div>
      )}
      <div class="muted small" data-testid="mcp-rules">
        {rules(m)}
        {m.offered && (
          <span data-testid="mcp-offered" title={`as an agent's tools/list through the cage was answered ${ago(m.offered.at, now)}`}>
            {' '}
            · offers {counted(m.offered.tools.length, 'tool', 'tools')}
            {m.offered.hidden > 0 ? `, ${count(m.offered.hidden)} more hidden by its rules` : ''}
          </span>
        )}
      </div>
      <div class="figures">
        <Figure label="Calls" testid="mcp-calls" sub={m.lastCallAt ? `last ${ago(m.lastCallAt, now)}` : 'none yet'}>
          {count(m.calls)}
        </Figure>
        <Figure label="Errors" testid="mcp-errors" title="Calls that failed (a timeout, the server unreachable, an open circuit) or whose tool reported an error">
          <span class={m.errors > 0 ? 'tone-bad' : undefined}>{count(m.errors)}</span>
        </Figure>
        <Figure label="Refused" testid="mcp-refusals" title="Calls the cage refused: its rules, a policy, PII, the budget">
          <span class={m.refusals > 0 ? 'tone-warn' : undefined}>{count(m.refusals)}</span>
        </Figure>
        <Figure label="Cost" testid="mcp-cost" sub={price(m)}>
          {money(m.costUsd)}
        </Figure>
      </div>
      {m.tools.length === 0 ? (
        <p class="muted small" data-testid="mcp-no-tools">
          No tool called yet.
        </p>
      ) : (
        <table class="table reflow mcp-tools" data-testid="mcp-tools">
          <caption class="sr-only">Tools of {m.name}</caption>
          <TableHead cols={['Tool', 'Calls', 'Errors', 'Refused', 'Cost']} numFrom={1} />
          <tbody>
            {m.tools.map((t) => (
              <tr key={t.name} data-testid="mcp-tool" data-tool={t.name}>
                <td class="cell-name" title={t.lastCallAt ? `last call ${ago(t.lastCallAt, now)}` : undefined}>
                  <Name text={t.name} />
                </td>
                <td class="num cell-calls" data-label="calls">
                  {count(t.calls)}
                </td>
                <td class={`num cell-errors${t.errors > 0 ? ' tone-bad' : ''}`} data-label="errors">
                  {count(t.errors)}
                </td>
                <td class={`num cell-refusals${t.refusals > 0 ? ' tone-warn' : ''}`} data-label="refused">
                  {count(t.refusals)}
                </td>
                <td class="num cell-cost" data-label="cost">
                  {money(t.costUsd)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
