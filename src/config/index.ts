export { loadConfig, type LoadOptions } from './load.js';
export { choicesOf, flagOf, OPTIONS, type Command, type FlagValues, type OptionName, type OptionSpec } from './options.js';
export { DEFAULTS, type Config } from './schema.js';
export type { GatewayConfig } from './gateway.js';
export { providerTimeoutMs } from './gateway.js';
export { faultCalls, faultDurationMs, faultsPermitted, faultStatus, isLoopbackHost, type ToolServiceConfig } from './tools.js';
export { MCP_DEFAULTS, type McpServerConfig } from './mcp.js';
export {
  INJECTION_DOORS,
  INJECTION_MODES,
  injectionMode,
  injectionWatched,
  injectionWatchedFor,
  locationModes,
  SAFETY_LOCATIONS,
  type InjectionDoor,
  type InjectionMode,
  type InjectionModes,
  type InjectionPolicy,
  type LocationMode,
  type SafetyLocation,
} from './safety.js';
export { checkPanelConfig, type PanelConfig } from './panel.js';
export { WATCH_DEFAULTS, type WatchConfig, type WatchGateConfig, type WatchLoopsConfig, type WatchSpikesConfig, type WatchStallsConfig } from './watch.js';
export { SANDBOX_DEFAULTS, SCRATCH_FOLDERS, scratchBytes, type SandboxConfig, type SandboxLimits, type SandboxMode } from './sandbox.js';
export { globPattern, POLICY_DEFAULTS, PROXIED_METHODS } from './policies.js';
export type { ScriptedCall, ScriptedConversation, ScriptedTurn, ScriptedWhen, SimScript } from './sim-script.js';
