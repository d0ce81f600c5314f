import * as z from 'zod';
import type { WatchPolicy } from '../core/events.js';
import { layer, type Keys } from './layer.js';

// The `watch:` section: what the runtime watches for in how a run behaves (src/watch): loops,
// stalls and spend spikes, and what it does about each (`policy`: warn, pause or stop), and what
// a paused agent's gate may hold (`gate`).

const policy = z.enum(['warn', 'pause', 'stop']);
/** Seconds, fractions allowed (a test's short window), within bounds. */
const seconds = (min: number, max: number) =>
  z
    .number()
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max} (${max >= 86_400 ? `${max / 86_400} day${max === 86_400 ? '' : 's'}` : `${max / 3600} h`})`);
const repeats = z.number().int('must be a whole number').min(2, 'must be 2 or more').max(1000, 'must be at most 1000');

const loops = z.strictObject({
  enabled: z.boolean().optional(),
  /** The same tool call or function call this many times within the window is a loop. */
  count: repeats.optional(),
  /** The same prompt to the same model this many times within the window is a loop. */
  prompt_count: repeats.optional(),
  window_s: seconds(0.1, 86_400).optional(),
  policy: policy.optional(),
});
const stalls = z.strictObject({ enabled: z.boolean().optional(), after_s: seconds(0.1, 86_400).optional(), policy: policy.optional() });
const spikes = z.strictObject({
  enabled: z.boolean().optional(),
  factor: z.number().min(1.5, 'must be at least 1.5').max(1000, 'must be at most 1000').optional(),
  window_s: seconds(0.1, 3600).optional(),
  baseline_s: seconds(0.1, 86_400).optional(),
  min_usd: z.number().min(0, 'must be 0 or more').max(1_000_000, 'must be at most 1000000').optional(),
  policy: policy.optional(),
});

const count = (max: number) => z.number().int('must be a whole number').min(1, 'must be 1 or more').max(max, `must be at most ${max}`);
const gate = z.strictObject({
  /** Calls one paused agent may have waiting at its gate; past it a call is refused (503). */
  max_held_per_agent: count(10_000).optional(),
  /** Calls all paused agents together may have waiting. */
  max_held: count(100_000).optional(),
  /** The request bodies held calls have sent, read into memory while they wait, together. */
  max_held_mb: z.number().min(0.01, 'must be at least 0.01').max(4096, 'must be at most 4096').optional(),
  /** How long one call may wait before it is answered that the agent is paused. */
  hold_s: seconds(0.1, 86_400).optional(),
});

const section = z.strictObject({ enabled: z.boolean().optional(), loops: loops.optional(), stalls: stalls.optional(), spikes: spikes.optional(), gate: gate.optional() });

export const watchFileSchema = { watch: section.optional() };

export interface WatchLoopsConfig {
  enabled: boolean;
  count: number;
  promptCount: number;
  windowMs: number;
  policy: WatchPolicy;
}
export interface WatchStallsConfig {
  enabled: boolean;
  afterMs: number;
  policy: WatchPolicy;
}
export interface WatchSpikesConfig {
  enabled: boolean;
  factor: number;
  windowMs: number;
  baselineMs: number;
  minUsd: number;
  policy: WatchPolicy;
}

/** What a paused agent's gate may hold: calls (per agent, in all), their bodies' bytes, and for how long. */
export interface WatchGateConfig {
  maxHeldPerAgent: number;
  maxHeld: number;
  maxHeldBytes: number;
  holdMs: number;
}

export interface WatchConfig {
  /** Off: nothing is watched (pausing by hand still works). */
  enabled: boolean;
  loops: WatchLoopsConfig;
  stalls: WatchStallsConfig;
  spikes: WatchSpikesConfig;
  gate: WatchGateConfig;
}

export const WATCH_DEFAULTS: WatchConfig = {
  enabled: true,
  loops: { enabled: true, count: 3, promptCount: 3, windowMs: 300_000, policy: 'warn' },
  stalls: { enabled: true, afterMs: 300_000, policy: 'warn' },
  spikes: { enabled: true, factor: 5, windowMs: 60_000, baselineMs: 600_000, minUsd: 0.05, policy: 'warn' },
  // Held calls keep a socket each (and their bodies in memory): bounded well under a process's
  // usual 1024 open files; five minutes, under the OpenAI and Anthropic SDKs' own 10-minute timeout.
  gate: { maxHeldPerAgent: 32, maxHeld: 256, maxHeldBytes: 64 * 1024 * 1024, holdMs: 300_000 },
};

type Section = z.output<typeof section>;
const ms = (s: number | undefined): number | undefined => (s === undefined ? undefined : Math.round(s * 1000));

const LOOPS: Keys<WatchLoopsConfig, z.output<typeof loops>> = { enabled: 'enabled', count: 'count', promptCount: 'prompt_count', windowMs: (l) => ms(l.window_s), policy: 'policy' };
const STALLS: Keys<WatchStallsConfig, z.output<typeof stalls>> = { enabled: 'enabled', afterMs: (l) => ms(l.after_s), policy: 'policy' };
const SPIKES: Keys<WatchSpikesConfig, z.output<typeof spikes>> = {
  enabled: 'enabled',
  factor: 'factor',
  windowMs: (l) => ms(l.window_s),
  baselineMs: (l) => ms(l.baseline_s),
  minUsd: 'min_usd',
  policy: 'policy',
};
const GATE: Keys<WatchGateConfig, z.output<typeof gate>> = {
  maxHeldPerAgent: 'max_held_per_agent',
  maxHeld: 'max_held',
  maxHeldBytes: (l) => (l.max_held_mb === undefined ? undefined : Math.round(l.max_held_mb * 1024 * 1024)),
  holdMs: (l) => ms(l.hold_s),
};
const WATCH: Keys<WatchConfig, Section> = {
  enabled: 'enabled',
  loops: (l, cur) => layer(cur, l.loops, LOOPS),
  stalls: (l, cur) => layer(cur, l.stalls, STALLS),
  spikes: (l, cur) => layer(cur, l.spikes, SPIKES),
  gate: (l, cur) => layer(cur, l.gate, GATE),
};

/** Lay one parsed source's `watch:` keys over `cur`. */
export const applyWatch = (cur: WatchConfig, l: { watch?: Section }): WatchConfig => layer(cur, l.watch, WATCH);
