export { loadConfig, type LoadOptions } from './load.js';
export { choicesOf, flagOf, OPTIONS, type Command, type FlagValues, type OptionName, type OptionSpec } from './options.js';
export { DEFAULTS, type Config } from './schema.js';
export type { GatewayConfig } from './gateway.js';
export { providerTimeoutMs } from './gateway.js';
export { faultCalls, faultDurationMs, faultsPermitted, faultStatus, isLoopbackHost, type ToolServiceConfig } from './tools.js';
export { locationModes, SAFETY_LOCATIONS, type LocationMode, type SafetyLocation } from './safety.js';
export { checkPanelConfig, type PanelConfig } from './panel.js';
export { WATCH_DEFAULTS, type WatchConfig, type WatchGateConfig, type WatchLoopsConfig, type WatchSpikesConfig, type WatchStallsConfig } from './watch.js';
