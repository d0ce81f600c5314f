// Reporting to a control panel: the runtime side of the telemetry contract (src/state/telemetry.ts).
export { reportService } from './report.service.js';
export { Reporter, type ReporterOptions } from './reporter.js';
export { PanelClient, type PanelAnswer, type PanelClientOptions } from './client.js';
