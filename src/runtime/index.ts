export { Runtime, type RuntimeOptions } from './runtime.js';
export { boot, holdSignals, onSignals, type BootOptions, type SignalGate } from './boot.js';
export { checkPython, checkScript, checkSyntax } from './checks.js';
export { costRows, fetchRunSummary, fetchRunViews, getJson, renderTable, summaryRows, type Row, type RunSummary } from './summary.js';
