import * as z from 'zod';
import { layer, type Keys } from './layer.js';

// The `sandbox:` section: how the agent is confined (src/sandbox). `mode` is also `--sandbox`.

export type SandboxMode = 'off' | 'auto' | 'on';

const MB = 1024 * 1024;
const folders = z.array(
  z
    .string()
    .min(1, 'must not be empty')
    .refine((p) => !p.includes('\0'), 'must not contain NUL'),
  'must be a list of folders',
);
const whole = (min: number, max: number) => z.number('must be a number').int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

const limitsSection = z.strictObject({
  /** Address space of each agent process, in MB. */
  memory_mb: whole(64, 1_048_576).optional(),
  /** Processes and threads the agent may run at once (inside its sandbox). */
  processes: whole(8, 65_536).optional(),
  open_files: whole(32, 1_048_576).optional(),
  /** Largest file the agent may write, in MB. */
  file_size_mb: whole(1, 1_048_576).optional(),
  /** CPU time per agent process, in seconds; null: none. */
  cpu_seconds: whole(1, 31_536_000).nullable().optional(),
});

const sandboxSection = z.strictObject({
  mode: z.enum(['off', 'auto', 'on'], "must be 'off', 'auto' or 'on'").optional(),
  /** Folders the agent may write besides its working folder. */
  write: folders.optional(),
  /** Folders of the home folder (or elsewhere hidden) the agent may read. */
  read: folders.optional(),
  limits: limitsSection.optional(),
});

export const sandboxFileSchema = { sandbox: sandboxSection.optional() };

export interface SandboxLimits {
  memoryBytes: number;
  processes: number;
  openFiles: number;
  fileSizeBytes: number;
  cpuSeconds: number | null;
}

export interface SandboxConfig {
  mode: SandboxMode;
  write: string[];
  read: string[];
  limits: SandboxLimits;
}

export const SANDBOX_DEFAULTS: SandboxConfig = {
  mode: 'auto',
  write: [],
  read: [],
  limits: { memoryBytes: 4096 * MB, processes: 512, openFiles: 4096, fileSizeBytes: 4096 * MB, cpuSeconds: null },
};

type Section = z.output<typeof sandboxSection>;
type LimitsLayer = z.output<typeof limitsSection>;

const LIMIT_KEYS: Keys<SandboxLimits, LimitsLayer> = {
  memoryBytes: (l) => (l.memory_mb === undefined ? undefined : l.memory_mb * MB),
  processes: 'processes',
  openFiles: 'open_files',
  fileSizeBytes: (l) => (l.file_size_mb === undefined ? undefined : l.file_size_mb * MB),
  cpuSeconds: 'cpu_seconds',
};

const KEYS: Keys<SandboxConfig, Section> = {
  mode: 'mode',
  write: 'write',
  read: 'read',
  limits: (l, cur) => layer(cur, l.limits, LIMIT_KEYS),
};

export const applySandbox = (cur: SandboxConfig, l: { sandbox?: Section }): SandboxConfig => layer(cur, l.sandbox, KEYS);
