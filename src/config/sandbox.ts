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

/** `pypi.org`, `*.example.com`, either with `:port` (without: 80 and 443). */
const hostRule = z
  .string('must be a host name')
  .regex(/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$/i, 'must be a host name such as pypi.org or *.example.com, with :port or without (80 and 443)')
  .refine((r) => !r.includes(':') || (Number(r.split(':')[1]) >= 1 && Number(r.split(':')[1]) <= 65_535), 'has a port outside 1-65535');

const sandboxSection = z.strictObject({
  mode: z.enum(['off', 'auto', 'on'], "must be 'off', 'auto' or 'on'").optional(),
  /** Folders the agent may write besides its working folder. */
  write: folders.optional(),
  /** Folders of the home folder (or elsewhere hidden) the agent may read. */
  read: folders.optional(),
  limits: limitsSection.optional(),
  /** Hosts the agent may reach over HTTP(S) through the cage's proxy; none by default. */
  network: z.strictObject({ allow: z.array(hostRule, 'must be a list of host names').max(1_000, 'must list at most 1000 hosts').optional() }).optional(),
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
  /** Hosts (`pypi.org`, `*.example.com`, with `:port` or for 80 and 443) the agent may reach through the cage's egress proxy; empty: none. */
  allow: string[];
}

export const SANDBOX_DEFAULTS: SandboxConfig = {
  mode: 'auto',
  write: [],
  read: [],
  limits: { memoryBytes: 4096 * MB, processes: 512, openFiles: 4096, fileSizeBytes: 4096 * MB, cpuSeconds: null },
  allow: [],
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
  allow: (l) => l.network?.allow?.map((r) => r.toLowerCase()),
};

export const applySandbox = (cur: SandboxConfig, l: { sandbox?: Section }): SandboxConfig => layer(cur, l.sandbox, KEYS);
