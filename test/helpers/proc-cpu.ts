import { readdirSync, readFileSync } from 'node:fs';

// The CPU a process tree has spent, read from /proc (Linux), for TEST_CPU_LOG (cpu-setup.ts).

interface Proc {
  ppid: number;
  /** utime + stime, seconds. */
  self: number;
  /** cutime + cstime: its children that ended and were waited for, seconds. */
  ended: number;
}

function proc(pid: number | string): Proc | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), self: (Number(f[11]) + Number(f[12])) / 100, ended: (Number(f[13]) + Number(f[14])) / 100 };
  } catch {
    return null;
  }
}

/**
 * What `root`'s processes have spent, in seconds: its ended children's, and every live
 * descendant's own and its ended children's. Two readings' difference is what they spent between
 * them, whichever ended or started meanwhile (an ended child's whole time moves into its parent's
 * `ended`). `withRoot`: the root's own time too.
 */
export function treeSeconds(root: number, withRoot = false): number {
  const all = new Map<number, Proc>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = proc(name);
    if (p) all.set(Number(name), p);
  }
  const kids = new Map<number, number[]>();
  for (const [pid, p] of all) kids.set(p.ppid, [...(kids.get(p.ppid) ?? []), pid]);
  const top = all.get(root);
  let total = top ? top.ended + (withRoot ? top.self : 0) : 0;
  const stack = [...(kids.get(root) ?? [])];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    const p = all.get(pid)!;
    total += p.self + p.ended;
    stack.push(...(kids.get(pid) ?? []));
  }
  return total;
}

/**
 * The CPU this process spent on `fn` (all its threads: V8's GC helpers too), in ms: what a check
 * of an algorithm's cost reads rather than wall time, which on a busy machine also counts waiting
 * for a core.
 */
export function cpuMs(fn: () => unknown): number {
  const t0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1000;
}

/**
 * The least CPU of `runs` runs of `fn`, in ms: what a check that a reading is linear compares (a
 * text ten times as long, about ten times the cost). A collection or a recompilation that lands in
 * one run is the machine's, not the reader's: one run each was 34× for a linear reader, under load.
 *
 * @example
 * expect(leastCpuMs(() => read(large), 2) / Math.max(1, leastCpuMs(() => read(small), 3))).toBeLessThan(30);
 */
export function leastCpuMs(fn: () => unknown, runs: number): number {
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) least = Math.min(least, cpuMs(fn));
  return least;
}
