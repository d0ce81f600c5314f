import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StateManager } from '../../src/state/index.js';
import { tempDir } from '../helpers/runtime.js';

// The name an agent gives itself through its SDK (POST /api/agents/:id/name) is shown, never its
// identity: what messages and alerts call it changes, what budgets, tokens and rules match does not.

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('an agent’s own name', () => {
  it('is shown beside its name in the cage, said once per name, and never replaces it', () => {
    const { dir, cleanup } = tempDir();
    const sm = StateManager.open(join(dir, 's.db'));
    cleanups.push(() => {
      sm.close();
      cleanup();
    });
    sm.registerAgent({ id: 'ag-00000001', name: 'agent', kind: 'supervised', script: 'agent.py', args: [], limitMicros: null });
    expect(sm.lastEvents(1, 'ag-00000001')[0]!.message).toBe('Agent registered: agent (agent.py)');
    expect(sm.getAgent('ag-00000001')).toMatchObject({ name: 'agent', calledName: null });
    expect(sm.nameAgent('ag-00000001', 'researcher')).toBe(true);
    expect(sm.nameAgent('ag-00000001', 'researcher')).toBe(false);
    expect(sm.getAgent('ag-00000001')).toMatchObject({ name: 'agent', calledName: 'researcher' });
    expect(sm.agentBrief('ag-00000001')).toMatchObject({ name: 'agent', shownName: 'researcher' });
    const named = sm.lastEvents(5, 'ag-00000001').filter((e) => e.type === 'agent.named');
    expect(named.map((e) => [e.message, e.data])).toEqual([['Agent calls itself researcher (it runs as agent)', { name: 'researcher', runsAs: 'agent' }]]);
  });
});
