// Cost per step: the agent's own units (what its progress reports name: lead, task), the
// costliest first, then by the tool chain that triggered the calls and by model.
import { budgetFigures } from '../figures.js';
import { count, money } from '../format.js';
import { useStore } from '../store.js';
import { jumpTimeline } from '../timeline.js';
import type { Agent } from '../types.js';
import { Figure, Name, Panel } from '../ui.js';
import { TableHead } from '../table-head.js';

export function StepsPanel({ agent }: { agent: Agent | null }) {
  const s = useStore();
  const r = agent ? s.steps[agent.id] : undefined;
  if (!agent || !r)
    return (
      <Panel title="Cost per step" id="steps">
        <p class="muted">{agent ? 'Loading…' : 'Waiting for the agent…'}</p>
      </Panel>
    );
  const unit = r.unit || 'step';
  // The Cost panel's average (spend / units done), from the same store and the same report: never
  // a figure apart. With neither the status's budget nor the cost report, the spend is not known
  // here (not $0): the steps report's own average.
  const c = s.costs[agent.id];
  const avg = (agent.budget || c ? budgetFigures(agent, c).avgPerUnitUsd : null) ?? r.avgStepUsd;
  return (
    <Panel title="Cost per step" id="steps">
      <div class="figures">
        <Figure label={`Average per ${unit.replace(/s$/, '')}`} testid="steps-avg">
          {avg !== null ? money(avg) : <span class="muted">after the first progress report</span>}
        </Figure>
        <Figure label={`${unit[0]!.toUpperCase()}${unit.slice(1)} with calls`} testid="steps-count">
          {count(r.steps)}
        </Figure>
      </div>
      <table class="table steps" data-testid="steps-top">
        <caption class="sub-head">Costliest {unit}</caption>
        <TableHead cols={['Step', 'Calls', 'Tokens', 'Cost']} numFrom={1} />
        <tbody>
          {r.top.map((x) => (
            <tr key={x.step} data-testid="step-row" data-step={x.step}>
              <td class="cell-name">
                <button
                  type="button"
                  class="link"
                  title="Show this step's calls in the timeline"
                  onClick={() =>
                    jumpTimeline({
                      agentId: agent.id,
                      ms: Date.parse(x.firstTs),
                      // Calls made before the first progress report carry no step: they are the first one's (the report counts them there).
                      pick: (items) => items.filter((i) => i.lane === 'llm' && (i.detail.step ?? 1) === x.step).map((i) => i.key),
                      missing: `The calls of ${x.label} are not in this part of the timeline.`,
                    })
                  }
                >
                  {x.label}
                </button>
              </td>
              <td class="num cell-calls" data-label="Calls">
                {count(x.calls)}
              </td>
              <td class="num cell-tokens" data-label="Tokens">
                {count(x.promptTokens + x.completionTokens)}
              </td>
              <td class="num cell-cost" data-label="Cost">
                {money(x.costUsd)}
              </td>
            </tr>
          ))}
          {r.top.length === 0 && (
            <tr>
              <td colSpan={4} class="muted">
                no calls within a step yet (steps begin with the first progress report)
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <div class="split">
        <Groups testid="steps-by-chain" head="Triggered by" rows={r.byChain.map((c) => ({ name: c.chain ?? '(the agent itself)', calls: c.calls, costUsd: c.costUsd }))} />
        <Groups testid="steps-by-model" head="Model" rows={r.byModel.map((m) => ({ name: m.model, calls: m.calls, costUsd: m.costUsd }))} />
      </div>
    </Panel>
  );
}

function Groups({ head, rows, testid }: { head: string; rows: Array<{ name: string; calls: number; costUsd: number }>; testid: string }) {
  return (
    <table class="table" data-testid={testid}>
      <TableHead cols={[head, 'Calls', 'Cost']} numFrom={1} />
      <tbody>
        {rows.map((g) => (
          <tr key={g.name}>
            <td>
              <Name text={g.name} />
            </td>
            <td class="num">{count(g.calls)}</td>
            <td class="num">{money(g.costUsd)}</td>
          </tr>
        ))}
        {rows.length === 0 && (
          <tr>
            <td colSpan={3} class="muted">
              none yet
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}
