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
/**
 * The doors prompt injection is looked for at, each with its own mode: the tool proxy's answers,
 * every message of an MCP server, the tool results an agent hands its model inside an LLM request,
 * and the user's own messages there (`prompt`: off unless set, as the user wrote them).
 */
export const INJECTION_DOORS = ['tool_response', 'mcp', 'tool_results', 'prompt'] as const;
export type InjectionDoor = (typeof INJECTION_DOORS)[number];
/** One level of `safety.injection`: a mode for every door but the prompt, and a door's own. */
export interface InjectionModes {
  mode?: InjectionMode;
  doors: Partial<Record<InjectionDoor, InjectionMode>>;
}
/** `safety.injection` read: the modes of every agent, and an agent's own (by its name in the cage) over them. */
export interface InjectionPolicy extends InjectionModes {
  mode: InjectionMode;
  agents: Record<string, InjectionModes>;
}

/**
 * The mode at one door for one agent: the agent's own door, then its own mode, then the door's,
 * then the mode (the prompt door takes no mode: it is read only where it is named).
 * @example injectionMode({ mode: 'detect', doors: { mcp: 'block' }, agents: { bot: { mode: 'warn', doors: {} } } }, 'bot', 'mcp') // 'warn'
 */
export function injectionMode(p: InjectionPolicy, agentName: string | null, door: InjectionDoor): InjectionMode {
  const own = agentName === null ? undefined : Object.hasOwn(p.agents, agentName) ? p.agents[agentName] : undefined;
  const mode = door === 'prompt' ? 'off' : p.mode;
  return own?.doors[door] ?? (door === 'prompt' ? undefined : own?.mode) ?? p.doors[door] ?? mode;
}

/** Whether any door looks for prompt injection for this agent (its Protection panel shows the counter). */
export function injectionWatchedFor(p: InjectionPolicy, agentName: string | null): boolean {
  return INJECTION_DOORS.some((d) => injectionMode(p, agentName, d) !== 'off');
}

/** Whether any door of any agent looks for prompt injection (else no guard is built). */
export function injectionWatched(p: InjectionPolicy): boolean {
  const levels: InjectionModes[] = [p, ...Object.values(p.agents)];
  return levels.some((l) => (l.mode !== undefined && l.mode !== 'off') || Object.values(l.doors).some((m) => m !== 'off'));
}

// PII protection keys of the config file. The mode itself is the top-level `safety_mode`
// (also --safety-mode); this section refines it. The type, mode, severity and risk names are
// the safety domain's own lists.
const typeRecord = <T extends z.ZodType>(v: T) => z.partialRecord(z.enum(PII_TYPES), v);

const mode = z.enum(LOCATION_MODES).optional();

const injectionModeKey = z.enum(INJECTION_MODES);
const injectionDoors = {
  tool_response: injectionModeKey.optional(),
  mcp: injectionModeKey.optional(),
  tool_results: injectionModeKey.optional(),
  prompt: injectionModeKey.optional(),
} satisfies Record<InjectionDoor, unknown>;
/** Anything but a map stands for `{ mode }`, so that a mistake is named by its key (`safety.injection.mode`, `….agents.bot.mcp`). */
const modeAlone = (v: unknown) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { mode: v });
const injectionLevel = z.preprocess(modeAlone, z.strictObject({ mode: injectionModeKey.optional(), ...injectionDoors }));
const injectionSection = z.preprocess(
  modeAlone,
  z.strictObject({
    mode: injectionModeKey.optional(),
    ...injectionDoors,
    agents: z
      .record(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/), injectionLevel, { error: (i) => (i.code === 'invalid_key' ? 'each key must be an agent name (letters, digits, . _ -; 1-64)' : undefined) })
      .optional(),
  }),
);

const levelOf = (l: z.output<typeof injectionLevel>): InjectionModes => {
  const { mode, ...doors } = l;
  return { ...(mode ? { mode } : {}), doors: Object.fromEntries(Object.entries(doors).filter(([, m]) => m !== undefined)) };
};

/** A `safety.injection` layer over the policy so far: a mode alone sets the mode; a map merges door by door and agent by agent. */
function layerInjection(cur: InjectionPolicy, l: z.output<typeof injectionSection> | undefined): InjectionPolicy | undefined {
  if (l === undefined) return undefined;
  const { agents, ...top } = l;
  const level = levelOf(top);
  const merged: Record<string, InjectionModes> = { ...cur.agents };
  for (const [name, a] of Object.entries(agents ?? {})) {
    const next = levelOf(a);
    const mode = next.mode ?? merged[name]?.mode;
    merged[name] = { ...(mode ? { mode } : {}), doors: { ...merged[name]?.doors, ...next.doors } };
  }
  return { mode: level.mode ?? cur.mode, doors: { ...cur.doors, ...level.doors }, agents: merged };
}

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
  injection: injectionSection.optional(),
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
  /** Prompt injection where untrusted text reaches an agent (src/injection), per door and agent: off, detect (an event and the counter), warn (the model is told), block (refused). */
  injection: InjectionPolicy;
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
  injection: { mode: 'detect', doors: {}, agents: {} },
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
  injection: (l, cur) => layerInjection(cur, l.injection),
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
