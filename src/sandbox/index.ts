export { chooseSandbox, sandboxLine, sandboxRunner, cageFiles, type SandboxChoice } from './choose.js';
export { sandboxSupport, type Support } from './support.js';
export { sandboxPolicy, type SandboxPolicy } from './policy.js';
export { SandboxRunner } from './runner.js';
