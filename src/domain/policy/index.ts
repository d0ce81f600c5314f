export { fold, LIST_OPS, meets, NUMBER_OPS, TEXT_OPS, type ArgCondition, type ArgTest, type ListOp, type NumberOp, type TextOp } from './conditions.js';
export {
  approversText,
  callLabel,
  firstMatch,
  llmToolWatched,
  mayApprove,
  namedDomains,
  namesMatch,
  needsArgs,
  qualified,
  type Approvers,
  type CallArgs,
  type Match,
  type PolicyAction,
  type PolicyCall,
  type PolicyRule,
  type PolicySet,
} from './rules.js';
export { RateWindows } from './rate.js';
