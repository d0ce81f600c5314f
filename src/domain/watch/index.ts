export { canonicalJson, clip, digest, emptyArgs, functionCalls, functionKey, lastText, normaliseArgs, promptKey, sortedQuery, toolKey, type FunctionCall, type ToolCallShape } from './fingerprint.js';
export { LoopTracker, type Loop, type LoopKind, type LoopRules, type Sighting } from './loops.js';
export { SpendLog, spikeOf, type SpentCall, type Spike, type SpikeRules } from './spend.js';
export { loopMoney, stalled } from './stall.js';
