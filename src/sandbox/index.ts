export { chooseSandbox, confineLaunched, egressProxy, sandboxLine, sandboxRunner, cageFiles, type Confine, type SandboxChoice } from './choose.js';
export { EgressProxy, egressRule } from './egress.js';
export { sandboxSupport, type SandboxTool, type Support } from './support.js';
export { seatbeltProfile, SeatbeltRunner } from './seatbelt.js';
export { sandboxPolicy, type SandboxPolicy } from './policy.js';
export { SandboxRunner } from './runner.js';
