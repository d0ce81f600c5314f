// How a call ended, as every count says it: refusals an outcome of their own.
export { isRefusal, llmOutcomes, type LlmOutcomes, REFUSAL_EVENTS, REFUSED_LEDGER_STATUS, REFUSING_POLICY_ACTIONS } from './refusals.js';
