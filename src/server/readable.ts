import { NotFoundError } from '../core/errors.js';
import { canRead, type Principal } from '../core/roles.js';
import type { AgentView, StateManager } from '../state/index.js';

/**
 * The agent `id` as `p` may see it, for every `/api/agents/:id/…` route: an agent token asking
 * about another agent learns nothing, not even that it exists (404). An agent another process
 * wrote to the database (a token created by the CLI) is read from it.
 */
export function readableAgent(state: Pick<StateManager, 'loadAgent'>, p: Principal, id: string): AgentView {
  const agent = state.loadAgent(id);
  if (!agent || !canRead(p, id)) throw new NotFoundError(`no agent ${id}`);
  return agent;
}
