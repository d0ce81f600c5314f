import { type AgentStatus, TERMINAL_STATUSES } from '../core/events.js';
import type { StateManager } from '../state/index.js';

/** The agent a token speaks for, as the state knows it. */
export type AgentBrief = NonNullable<ReturnType<StateManager['agentBrief']>>;

/** Whether an agent's token may still open a door: its agent, or why not (unknown here, or its run has ended). */
export type Standing = { agent: AgentBrief } | { closed: 'unknown' } | { closed: 'ended'; status: AgentStatus };

/**
 * The credential rule of every agent-facing door (the LLM gateway, the tool proxy, MCP, the
 * sandbox's egress proxy), the `auth` guard of src/core/stages.ts: a token that verifies and is an
 * agent's opens a door only for an agent this iron-cage knows whose run has not ended (a
 * supervised agent's; an agent of an API token has no run to end). Each door says a refusal in its
 * own shape (`closedWords`).
 *
 * @example
 *   const s = agentStanding(state, p.agentId);
 *   if ('closed' in s) throw new ForbiddenError(closedWords(p.agentId, s));
 */
export function agentStanding(state: Pick<StateManager, 'agentBrief'>, agentId: string): Standing {
  const agent = state.agentBrief(agentId);
  if (!agent) return { closed: 'unknown' };
  if (agent.kind === 'supervised' && TERMINAL_STATUSES.has(agent.status)) return { closed: 'ended', status: agent.status };
  return { agent };
}

/**
 * Why a token opens no door, in words.
 * @example closedWords('ag-1', { closed: 'ended', status: 'stopped' }) // 'agent ag-1 has stopped; its token no longer makes calls'
 */
export function closedWords(agentId: string, s: Exclude<Standing, { agent: AgentBrief }>): string {
  return s.closed === 'unknown' ? `agent ${agentId} is not known to this iron-cage` : `agent ${agentId} has ${s.status}; its token no longer makes calls`;
}
