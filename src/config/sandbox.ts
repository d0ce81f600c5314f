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
  /** The size of each of the agent's in-memory folders (/tmp, /var/tmp, /dev/shm, its home), in MB. */
  tmp_mb: whole(1, 262_144).optional(),
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
  /** Each in-memory folder's size (`scratchBytes`); null: derived from the memory limit. */
  tmpBytes: number | null;
}

/**
 * The folders a sandboxed agent writes that live in the host's memory (tmpfs): each is sized, or
 * it could grow to half the host's RAM, charged to no process. They count against the memory
 * limit the user sets: together they hold at most a quarter of it by default, all of it at most.
 */
export const SCRATCH_FOLDERS = 4;
const SCRATCH_DEFAULT_MAX = 512 * MB;

/**
 * How large each of the agent's in-memory folders may grow: `tmp_mb`, else a sixteenth of
 * `memory_mb` (the four together a quarter of it), at most 512 MB.
 * @example scratchBytes({ memoryBytes: 4096 * MB, tmpBytes: null }) // 256 MB
 * @example scratchBytes({ memoryBytes: 128 * MB, tmpBytes: null }) // 8 MB
 */
export function scratchBytes(l: Pick<SandboxLimits, 'memoryBytes' | 'tmpBytes'>): number {
  return l.tmpBytes ?? Math.max(MB, Math.min(SCRATCH_DEFAULT_MAX, Math.floor(l.memoryBytes / (SCRATCH_FOLDERS * 4) / MB) * MB));
}

/** `tmp_mb` must let the in-memory folders fit in `memory_mb` together; the error names both keys. */
export function scratchProblem(l: Pick<SandboxLimits, 'memoryBytes' | 'tmpBytes'>): string | null {
  if (l.tmpBytes === null || l.tmpBytes * SCRATCH_FOLDERS <= l.memoryBytes) return null;
  const mb = (b: number) => b / MB;
  return `sandbox.limits.tmp_mb (${mb(l.tmpBytes)}) is more than memory_mb (${mb(l.memoryBytes)}) allows: the agent's ${SCRATCH_FOLDERS} in-memory folders (/tmp, /var/tmp, /dev/shm, its home) hold up to ${mb(l.tmpBytes * SCRATCH_FOLDERS)} MB of host memory together, which counts against memory_mb; lower tmp_mb to at most ${Math.floor(mb(l.memoryBytes) / SCRATCH_FOLDERS)} or raise memory_mb`;
}

export interface SandboxConfig {
  mode: SandboxMode;
  write: string[];
  read: string[];
  limits: SandboxLimits;
  /** Hosts (`pypi.org`, `*.example.com`, with `:port` or for 80 and 443) the agent may reach through the cage's egress proxy; empty: none. */
  allow: string[];
  /** Where `mode` was set, as the start says it (`--sandbox off`, `sandbox.mode: off in ./iron-cage.yaml`); null: the default. */
  modeFrom: string | null;
}

export const SANDBOX_DEFAULTS: SandboxConfig = {
  mode: 'auto',
  write: [],
  read: [],
  limits: { memoryBytes: 4096 * MB, processes: 512, openFiles: 4096, fileSizeBytes: 4096 * MB, cpuSeconds: null, tmpBytes: null },
  allow: [],
  modeFrom: null,
};

type Section = z.output<typeof sandboxSection>;
type LimitsLayer = z.output<typeof limitsSection>;

const LIMIT_KEYS: Keys<SandboxLimits, LimitsLayer> = {
  memoryBytes: (l) => (l.memory_mb === undefined ? undefined : l.memory_mb * MB),
  processes: 'processes',
  openFiles: 'open_files',
  fileSizeBytes: (l) => (l.file_size_mb === undefined ? undefined : l.file_size_mb * MB),
  cpuSeconds: 'cpu_seconds',
  tmpBytes: (l) => (l.tmp_mb === undefined ? undefined : l.tmp_mb * MB),
};

const KEYS: Keys<SandboxConfig, Section> = {
  mode: 'mode',
  write: 'write',
  read: 'read',
  limits: (l, cur) => layer(cur, l.limits, LIMIT_KEYS),
  allow: (l) => l.network?.allow?.map((r) => r.toLowerCase()),
  modeFrom: () => undefined,
};

export const applySandbox = (cur: SandboxConfig, l: { sandbox?: Section }): SandboxConfig => layer(cur, l.sandbox, KEYS);
