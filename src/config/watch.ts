import * as z from 'zod';
import type { WatchPolicy } from '../core/events.js';
import { layer, type Keys } from './layer.js';

// The `watch:` section: what the runtime watches for in how a run behaves (src/watch): loops,
// stalls and spend spikes, and what it does about each (`policy`: warn, pause or stop).

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

const section = z.strictObject({ enabled: z.boolean().optional(), loops: loops.optional(), stalls: stalls.optional(), spikes: spikes.optional() });

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

export interface WatchConfig {
  /** Off: nothing is watched (pausing by hand still works). */
  enabled: boolean;
  loops: WatchLoopsConfig;
  stalls: WatchStallsConfig;
  spikes: WatchSpikesConfig;
}

export const WATCH_DEFAULTS: WatchConfig = {
  enabled: true,
  loops: { enabled: true, count: 3, promptCount: 3, windowMs: 300_000, policy: 'warn' },
  stalls: { enabled: true, afterMs: 300_000, policy: 'warn' },
  spikes: { enabled: true, factor: 5, windowMs: 60_000, baselineMs: 600_000, minUsd: 0.05, policy: 'warn' },
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
const WATCH: Keys<WatchConfig, Section> = {
  enabled: 'enabled',
  loops: (l, cur) => layer(cur, l.loops, LOOPS),
  stalls: (l, cur) => layer(cur, l.stalls, STALLS),
  spikes: (l, cur) => layer(cur, l.spikes, SPIKES),
};

/** Lay one parsed source's `watch:` keys over `cur`. */
export const applyWatch = (cur: WatchConfig, l: { watch?: Section }): WatchConfig => layer(cur, l.watch, WATCH);
