// Reporting to a control panel: the runtime side of the telemetry contract (src/state/telemetry.ts).
export { reportService } from './report.service.js';
export { Reporter, type ReporterOptions } from './reporter.js';
export { PanelClient, type LeaseAnswer, type LeaseAsk, type LeaseBudget, type PanelAnswer, type PanelClientOptions } from './client.js';
export { Leases, type LeasesOptions } from './leases.js';
