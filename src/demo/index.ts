// The 100-lead conference demo: its scenario and mock services (demo-core), and what runs it
// on stage (the controller, the terminal, the SMTP sink, the results table). run.ts (`iron-cage
// demo`) puts them around one ordinary Runtime.

export { loadScenario, predictSpend, type Scenario } from './scenario.js';
export { startDemoServices, type DemoServices } from './services.js';
export { startController, DEFAULT_APPROVE_TIMEOUT_MS, type ControllerOptions, type Pace, type TriggerLeads } from './controller.js';
export { createTerminal, formatDuration, progressLine, type DemoProgress, type DemoTerminal } from './terminal.js';
export { startSmtpSink, type SinkMail, type SmtpSink } from './smtp-sink.js';
export { claimDataDir, dataDirFor, portFree } from './datadir.js';
export { fetchResults, resultsTable, type DemoResults } from './results.js';
export { demoFiles, PACE_SECONDS, type DemoFiles } from './files.js';
export { runDemo, DEMO_MASTER_KEY, DEMO_SECRETS, type DemoArgs } from './run.js';
