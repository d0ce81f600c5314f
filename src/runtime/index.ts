export { Runtime, type RuntimeOptions } from './runtime.js';
export { boot, holdSignals, onSignals, startError, type BootOptions, type SignalGate } from './boot.js';
export { checkCommand, checkPython, checkScript, checkSyntax } from './checks.js';
export { costRows, fetchRunSummary, fetchRunViews, getJson, refusedRows, renderTable, runTimeOf, summaryRows, type Row, type RunSummary } from './summary.js';
export { Panel, planPanel, type PanelOptions, type PanelPlan } from './panel.js';
