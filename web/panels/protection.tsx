import { count, time } from '../format.js';
import { useStore } from '../store.js';
import type { Agent, ProtectionReport } from '../types.js';
import { Figure, Panel } from '../ui.js';

/** Where a finding was read, in a presenter's words. */
const INJECTION_SOURCE: Record<NonNullable<ProtectionReport['latestInjection']>['source'], string> = {
  'llm.tool_result': 'a tool result sent to the model',
  'tool.response': 'a tool answer',
  'mcp.result': 'an MCP tool result',
  'mcp.message': 'an MCP server message',
  'llm.prompt': "the user's message",
};

/** What the cage stopped. A slot iron-cage does not watch says so instead of showing 0. */
export function ProtectionPanel({ agent }: { agent: Agent | null }) {
  const s = useStore();
  const p = agent ? s.protection[agent.id] : undefined;
  const blocked = p?.piiLeaksBlocked ?? 0;
  if (!p)
    return (
      <Panel title="Protection" id="protection">
        <p class="muted">{agent ? 'Loading…' : 'Waiting for the agent…'}</p>
      </Panel>
    );
  const unauthorized = p.monitored.unauthorizedActions ? p.unauthorizedActions : null;
  const injection = p.monitored.promptInjection ? p.promptInjectionAttempts : null;
  const bad = (unauthorized ?? 0) + (injection ?? 0);
  const tone = bad > 0 ? 'bad' : blocked > 0 || p.piiWarned > 0 ? 'warn' : 'ok';
  const verdict = { ok: '✅ nothing leaked', warn: '⚠️ PII caught and redacted', bad: (unauthorized ?? 0) > 0 ? '🔴 refused actions' : '🔴 prompt injection in a tool result' }[tone];
  const byType = Object.entries(p.piiLeaksBlockedByType).filter(([, n]) => n > 0);
  return (
    <Panel title="Protection" id="protection">
      <p class={`verdict tone-${tone}`}>{verdict}</p>
      <div class="figures">
        <Figure label="PII leaks blocked" testid="pii-blocked" sub={p.piiWarned > 0 ? `${count(p.piiWarned)} warned` : undefined}>
          {count(blocked)}
        </Figure>
        {/* A figure nothing monitors is not shown: a tile saying "not monitored yet" is one a presenter has to explain. */}
        {unauthorized !== null && (
          <Figure label="Unauthorized actions" testid="unauthorized">
            {count(unauthorized)}
          </Figure>
        )}
        {injection !== null && (
          <Figure label="Prompt injection" testid="injection">
            {count(injection)}
          </Figure>
        )}
      </div>
      <ul class="chips" data-testid="pii-by-type" aria-label="PII blocked by type">
        {byType.length === 0 ? (
          <li class="muted small">no PII seen yet</li>
        ) : (
          byType.map(([t, n]) => (
            <li class="chip" key={t}>
              {t} <strong>{count(n)}</strong>
            </li>
          ))
        )}
      </ul>
      <div class="preview" data-testid="pii-preview">
        {p.latest ? (
          <>
            <div class="muted small">
              Latest, {time(p.latest.ts)} in {p.latest.location}:
            </div>
            <code>{p.latest.preview}</code>
          </>
        ) : (
          <span class="muted small">The latest redacted text shows here.</span>
        )}
      </div>
      {p.latestInjection && (
        <div class="preview" data-testid="injection-latest">
          <div class="muted small">
            Prompt injection {p.latestInjection.action}, {time(p.latestInjection.ts)} in {INJECTION_SOURCE[p.latestInjection.source]} ({p.latestInjection.signals.join(', ')}):
          </div>
          <code>{p.latestInjection.excerpt}</code>
        </div>
      )}
    </Panel>
  );
}
