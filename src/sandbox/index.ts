export { chooseSandbox, clearStateNames, egressProxy, offBy, refuseLinkedCageFiles, sandboxLine, sandboxRunner, cageFiles, type SandboxChoice } from './choose.js';
export { confineCheck, confineLaunched, type Confine, type Launch } from './launched.js';
export { EgressProxy, egressRule } from './egress.js';
export { sandboxSupport, type SandboxTool, type Support } from './support.js';
export { seatbeltProfile, SeatbeltRunner } from './seatbelt.js';
export { sandboxPolicy, type SandboxPolicy } from './policy.js';
export { SandboxRunner } from './runner.js';
export { sandboxWeakened, type Weakened } from './weakened.js';
