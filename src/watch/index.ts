// The watch: loops, stalls and spend spikes noticed in the runtime, their events,
// alerts and policies, and pausing an agent (the gate its LLM and tool calls wait at).
import type { PauseGate } from './gate.js';

export { AgentPausedError, GaveUpAtGateError, PauseGate, type HeldCall } from './gate.js';
export { watchService } from './watch.service.js';
export type { LoopView, WatchView } from './watch.js';

/** What the gateway and the tool proxy ask before a call: null to go on, or a wait while the agent is paused. */
export type AgentGate = Pick<PauseGate, 'hold'>;
