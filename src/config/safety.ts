import * as z from 'zod';
import { PII_SEVERITIES, PII_TYPES, RISKS, SAFETY_MODES, type PiiType, type Risk, type SafetyMode, type Severity } from '../domain/pii/index.js';
import { httpUrl } from '../core/validation.js';
import { layer, merged, type Keys } from './layer.js';

/**
 * The doors PII passes through, each with its own mode (`safety.locations`): the LLM's answer
 * text, the arguments of the tool calls it asks for, the prompt the agent sends, the agent's own
 * stdout/stderr and SDK events, and the answers of the agent's tools.
 */
export const SAFETY_LOCATIONS = ['output', 'tool_arguments', 'prompt', 'agent_stdout', 'tool_response'] as const;
export type SafetyLocation = (typeof SAFETY_LOCATIONS)[number];
/** A location's mode: one of the safety modes, or `off` (not scanned at all). */
export const LOCATION_MODES = [...SAFETY_MODES, 'off'] as const;
export type LocationMode = SafetyMode | 'off';
/** What `safety.injection` does with a tool result that looks like a prompt injection (src/injection). */
export const INJECTION_MODES = ['off', 'detect', 'warn', 'block'] as const;
export type InjectionMode = (typeof INJECTION_MODES)[number];

// PII protection keys of the config file. The mode itself is the top-level `safety_mode`
// (also --safety-mode); this section refines it. The type, mode, severity and risk names are
// the safety domain's own lists.
const typeRecord = <T extends z.ZodType>(v: T) => z.partialRecord(z.enum(PII_TYPES), v);

const mode = z.enum(LOCATION_MODES).optional();

const section = z.strictObject({
  per_type: typeRecord(z.enum(SAFETY_MODES)).optional(),
  severity: typeRecord(z.enum(PII_SEVERITIES)).optional(),
  risk: typeRecord(z.enum(RISKS)).optional(),
  allow_domains: z.array(z.string().min(1)).optional(),
  allow_values: z.array(z.string().min(1)).optional(),
  phone_regions: z.array(z.string().regex(/^[A-Z]{2}$/, 'must be a two-letter country code like GB')).optional(),
  redact_prompts: z.boolean().optional(),
  locations: z.strictObject({ output: mode, tool_arguments: mode, prompt: mode, agent_stdout: mode, tool_response: mode } satisfies Record<SafetyLocation, unknown>).optional(),
  on_block: z.enum(['stop', 'refuse']).optional(),
  injection: z.enum(INJECTION_MODES).optional(),
  /** Deprecated: read as `alerts.webhook_url` (config/alerts.ts), which every alert shares. */
  webhook_url: httpUrl.optional(),
});

export const safetyFileSchema = { safety: section.optional() };

export interface SafetyConfig {
  perType: Partial<Record<PiiType, SafetyMode>>;
  severity: Partial<Record<PiiType, Severity>>;
  risk: Partial<Record<PiiType, Risk>>;
  allowDomains: string[];
  allowValues: string[];
  phoneRegions: string[] | null;
  redactPrompts: boolean;
  /** The modes set in `safety.locations`; `locationModes` fills in the rest from `safety_mode`. */
  locations: Partial<Record<SafetyLocation, LocationMode>>;
  onBlock: 'stop' | 'refuse';
  /** Prompt injection in the tool results an agent sends its model (src/injection): off, detect (an event and the counter), warn (the model is told), block (the call is refused). */
  injection: InjectionMode;
}

export const SAFETY_DEFAULTS: SafetyConfig = {
  perType: {},
  severity: {},
  risk: {},
  allowDomains: [],
  allowValues: [],
  phoneRegions: null,
  redactPrompts: false,
  locations: {},
  onBlock: 'stop',
  injection: 'detect',
};

type Section = z.output<typeof section>;

/** The `safety:` section, key by key; per-type tables merge over the ones so far. */
const SAFETY_KEYS: Keys<SafetyConfig, Section> = {
  perType: merged('per_type'),
  severity: merged('severity'),
  risk: merged('risk'),
  allowDomains: 'allow_domains',
  allowValues: 'allow_values',
  phoneRegions: 'phone_regions',
  redactPrompts: 'redact_prompts',
  locations: merged('locations'),
  onBlock: 'on_block',
  injection: 'injection',
};

export const applySafety = (cur: SafetyConfig, l: { safety?: Section }): SafetyConfig => layer(cur, l.safety, SAFETY_KEYS);

/**
 * Every location's mode: as set in `safety.locations`, else `safety_mode` — except the prompt,
 * `off` unless `safety.redact_prompts` (which `locations.prompt` overrides). An agent's own
 * output is never a reason to halt it: `block` acts as `redact` there (PiiProtection sees to it).
 * @example locationModes({ safetyMode: 'warn', safety: { ...SAFETY_DEFAULTS, locations: { tool_arguments: 'off' } } })
 *   // { output: 'warn', tool_arguments: 'off', prompt: 'off', agent_stdout: 'warn', tool_response: 'warn' }
 */
export function locationModes(c: { safetyMode: SafetyMode; safety: Pick<SafetyConfig, 'locations' | 'redactPrompts'> }): Record<SafetyLocation, LocationMode> {
  const set = c.safety.locations;
  const m = c.safetyMode;
  return {
    output: set.output ?? m,
    tool_arguments: set.tool_arguments ?? m,
    prompt: set.prompt ?? (c.safety.redactPrompts ? m : 'off'),
    agent_stdout: set.agent_stdout ?? m,
    tool_response: set.tool_response ?? m,
  };
}
