export { approvalsService, unknownNames, type ApprovalsDeps } from './approvals.service.js';
export { ApprovalDesk, deciderOf, GRANT_TTL_MS, type ApprovalView, type Decider } from './desk.js';
export { PolicyGate, PolicyRateError, PolicyRefusedError, callFingerprint, type GateCall } from './gate.js';
export { httpArgs, toolName } from './calls.js';
