import { statSync } from 'node:fs';
import type { Config } from '../config/index.js';
import type { AgentView, SandboxView } from '../state/index.js';
import { agentWritable, real } from './policy.js';
import type { SandboxChoice } from './choose.js';

// A start whose sandbox is weaker than the last sandboxed run's, because of a file that run's
// agent could have written (the config iron-cage read at this start, changed while that agent
// ran): said loudly, never in passing. The sandbox keeps every name iron-cage reads out of the
// agent's reach (policy.ts `reserved`, masks), so this should not happen; it is how a hole, or a
// file planted under an older release, shows itself rather than quietly turning the sandbox off.

export interface Weakened {
  /** The file that changed while the agent could write it. */
  file: string;
  changedAt: string;
  /** The sandboxed run it changed during. */
  agentId: string;
  agentName: string;
  /** What this start gives the agent that that run did not, in words. */
  wider: string[];
}

/** How this start's sandbox is wider than a run's: each difference in words (none: not wider). */
function wider(then: Extract<SandboxView, { sandboxed: true }>, choice: SandboxChoice, config: Pick<Config, 'sandbox'>, cwd: string): string[] {
  if (!choice.on) return [choice.why === null ? 'the sandbox is off' : `the agent is not sandboxed (${choice.why})`];
  const s = config.sandbox;
  const out: string[] = [];
  const writes = agentWritable(cwd, s.write).filter((w) => !then.write.includes(w));
  if (writes.length > 0) out.push(`it may write ${writes.join(', ')}`);
  const reads = s.read.map((r) => real(r)).filter((r) => !then.read.includes(r));
  if (reads.length > 0) out.push(`it may read ${reads.join(', ')}`);
  const reach = s.allow.filter((h) => !then.reach.some((r) => r.startsWith(`${h} `)));
  if (reach.length > 0) out.push(`it may reach ${reach.join(', ')}`);
  const mb = (b: number) => Math.round(b / 1024 / 1024);
  const l = s.limits;
  const t = then.limits;
  if (mb(l.memoryBytes) > t.memoryMb) out.push(`its memory limit rose from ${t.memoryMb} to ${mb(l.memoryBytes)} MB`);
  if (l.processes > t.processes) out.push(`its process limit rose from ${t.processes} to ${l.processes}`);
  if (mb(l.fileSizeBytes) > t.fileSizeMb) out.push(`its file size limit rose from ${t.fileSizeMb} to ${mb(l.fileSizeBytes)} MB`);
  if (t.cpuSeconds !== null && (l.cpuSeconds === null || l.cpuSeconds > t.cpuSeconds)) out.push(`its CPU limit rose from ${t.cpuSeconds} s to ${l.cpuSeconds === null ? 'none' : `${l.cpuSeconds} s`}`);
  return out;
}

/**
 * The first file iron-cage read at this start that changed while a sandboxed agent ran (its
 * change time between that run's start and end, or since, for a run that never ended), when this
 * start's sandbox is wider than that run's; null otherwise.
 *
 * @example
 *   const w = sandboxWeakened([config.configFile], state.listAgents(), choice, config, cwd);
 *   if (w) logger.warn(`${w.file} changed while sandboxed agent ${w.agentId} ran: ${w.wider.join('; ')}`);
 */
export function sandboxWeakened(files: ReadonlyArray<string | null>, agents: readonly AgentView[], choice: SandboxChoice, config: Pick<Config, 'sandbox'>, cwd: string): Weakened | null {
  for (const file of files) {
    if (file === null) continue;
    const st = statSync(file, { throwIfNoEntry: false });
    if (!st) continue;
    const changed = st.ctimeMs;
    // Newest run first: the last sandboxed run is the one to compare with.
    const runs = agents.filter((a) => a.sandbox?.sandboxed === true && a.startedAt !== null).sort((a, b) => Date.parse(b.startedAt!) - Date.parse(a.startedAt!));
    for (const a of runs) {
      const from = Date.parse(a.startedAt!);
      const to = a.endedAt === null ? Number.POSITIVE_INFINITY : Date.parse(a.endedAt);
      if (changed < from || changed > to) continue;
      const w = wider(a.sandbox as Extract<SandboxView, { sandboxed: true }>, choice, config, cwd);
      if (w.length > 0) return { file, changedAt: new Date(changed).toISOString(), agentId: a.id, agentName: a.name, wider: w };
    }
  }
  return null;
}
