import { useState } from 'preact/hooks';
import { budgetFigures } from '../figures.js';
import { llmOutcomes } from '../../src/domain/outcomes/index.js';
import { callsSub, count, money, pct } from '../format.js';
import { useStore } from '../store.js';
import type { Agent } from '../types.js';
import { barPart, Figure, Name, Panel } from '../ui.js';
import { jumpTimeline } from '../timeline.js';
import { SpendChart } from './chart.js';
import { TableHead } from '../table-head.js';

/** Models listed by name before the rest are summed into one line. */
const TOP_MODELS = 5;
const TONE: Record<string, string> = { under_budget: 'ok', approaching_limit: 'warn', over_budget: 'bad' };

/** Spend against the limit, where it is heading, and on which models. */
export function CostPanel({ agent }: { agent: Agent | null }) {
  const s = useStore();
  const c = agent ? s.costs[agent.id] : undefined;
  // Spend, limit, average and projection are derived from the agent's status object, moved by
  // every event that carries them (feed.ts, figures.ts); the cost report (calls, models, series)
  // follows within COST_REPORT_GAP_MS.
  const f = agent ? budgetFigures(agent, c) : null;
  const spent = f?.spentUsd ?? 0;
  const limit = f?.limitUsd ?? null;
  const used = f?.usedPercent ?? null;
  const [allModels, setAllModels] = useState(false);
  const byModel = c?.byModel ?? [];
  // The costliest models in full; the rest as one line that opens them all.
  const models = allModels || byModel.length <= TOP_MODELS + 1 ? { shown: byModel, rest: [] } : { shown: byModel.slice(0, TOP_MODELS), rest: byModel.slice(TOP_MODELS) };
  return (
    <Panel title="Cost" id="cost">
      <div class="cost-head">
        <div class="big">
          <span data-testid="cost-spent">{money(spent)}</span>
          <span class="muted"> of </span>
          <span data-testid="cost-limit">{limit === null ? 'no limit' : money(limit)}</span>
        </div>
        <div class={`meter tone-${used === null ? 'idle' : used >= 100 ? 'bad' : used >= 90 ? 'warn' : 'ok'}`}>
          <div class="bar">
            <div class="bar-fill" style={barPart(used ?? 0)} />
            <div class="bar-mark" style={{ left: '90%' }} title="90% warning" />
          </div>
          <span data-testid="cost-percent">{used === null ? 'no limit set' : `${pct(used)} used`}</span>
        </div>
      </div>
      <div class="figures">
        <Figure label="Average" testid="cost-avg">
          {f?.avgPerUnit ?? <span class="muted">after the first progress report</span>}
        </Figure>
        <Figure label="Projection" testid="cost-projection">
          {f?.projectionUsd != null ? (
            <span class={`tone-${TONE[f.status] ?? 'idle'}`}>
              {money(f.projectionUsd)} total <span class="small">{f.statusText}</span>
            </span>
          ) : (
            <span class="muted">needs progress reports</span>
          )}
        </Figure>
        <Figure label="Calls" testid="cost-calls" sub={c ? <span data-testid="cost-outcomes">{callsSub(llmOutcomes(c.byStatus, c.refused))}</span> : undefined}>
          {count(c?.requests ?? 0)}
        </Figure>
      </div>
      <SpendChart series={c?.series ?? []} limitUsd={limit} onPick={agent ? (ms) => jumpTimeline({ agentId: agent.id, ms }) : undefined} />
      <div class="split">
        <table class="table" data-testid="cost-by-model">
          <caption class="sr-only">Cost by model</caption>
          <TableHead cols={['Model', 'Calls', 'Cost']} numFrom={1} />
          <tbody>
            {models.shown.map((m) => (
              <tr key={m.model}>
                <td>
                  <Name text={m.model} />
                </td>
                <td class="num">{count(m.requests)}</td>
                <td class="num">{money(m.costUsd)}</td>
              </tr>
            ))}
            {models.rest.length > 0 && (
              <tr class="more-row">
                <td>
                  <button type="button" class="link" data-testid="cost-models-more" aria-expanded="false" onClick={() => setAllModels(true)}>
                    {models.rest.length} more models
                  </button>
                </td>
                <td class="num">{count(models.rest.reduce((n, m) => n + m.requests, 0))}</td>
                <td class="num">{money(models.rest.reduce((n, m) => n + m.costUsd, 0))}</td>
              </tr>
            )}
            {(c?.byModel.length ?? 0) === 0 && (
              <tr>
                <td colSpan={3} class="muted">
                  no calls yet
                </td>
              </tr>
            )}
          </tbody>
        </table>
        {/* Shown only with a baseline model: named by what it compares with ("vs all on gpt-4-32k"). */}
        {c?.baseline && (
          <div data-testid="cost-baseline" class="baseline">
            <strong>{c.display.baseline}</strong>
            <div class="muted small">
              every call on <Name text={c.baseline.model} /> would have cost {money(c.baseline.costUsd)}
            </div>
          </div>
        )}
      </div>
    </Panel>
  );
}
