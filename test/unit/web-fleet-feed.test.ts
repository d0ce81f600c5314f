import { afterEach, describe, expect, it } from 'vitest';
import { type PanelFrame, partsFor } from '../../web/fleet-feed.js';
import { fleet } from '../../web/fleet-store.js';
import type { BudgetView } from '../../web/types.js';

// Which of the fleet page's parts a landed batch changes: a central budget's spend is its landed
// LLM rows, so the budgets are asked for again when rows land, unless the panel has none.

const batch = (llmRequests: number, events = 0): Extract<PanelFrame, { kind: 'batch' }> => ({
  kind: 'batch',
  runtime: 'rt-a',
  seq: 1,
  events: [],
  stored: { agents: 0, events, llmRequests, toolCalls: 0, breakers: 0 },
});

describe('partsFor', () => {
  afterEach(() => {
    fleet.budgets = null;
  });

  it('asks for the budgets again when LLM rows land, while there are budgets or the page does not know yet', () => {
    fleet.budgets = [{ id: 'sales' } as BudgetView];
    expect(partsFor(batch(3))).toEqual(['fleet', 'agents', 'spend', 'budgets']);
    fleet.budgets = null;
    expect(partsFor(batch(3))).toContain('budgets');
  });

  it('leaves them be when no LLM row landed, or the panel has no budget', () => {
    fleet.budgets = [{ id: 'sales' } as BudgetView];
    expect(partsFor(batch(0, 2))).toEqual(['fleet', 'agents']);
    fleet.budgets = [];
    expect(partsFor(batch(3))).toEqual(['fleet', 'agents', 'spend']);
  });
});
