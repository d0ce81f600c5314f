import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// The order files start in: the slowest first, so that the run does not end with one long file
// on one core while the other waits. vitest orders by the durations of the last run on this
// machine; a fresh clone has none, and orders by file size, which says little here (a file of
// table-driven checks is large and quick, a chaos test short and slow). So a file's cost is
// guessed from what it starts, each at about what it costs on a 2-core machine: a whole control
// panel behind HAProxy, a PostgreSQL, Chromium, the CLI as processes, sandboxed agents, pip venvs.
// Where both files have a recorded duration, that wins.

const COSTS: Array<[RegExp, number]> = [
  [/startHaproxy|haproxy\.js/, 30],
  [/startPrometheus/, 10],
  [/launchBrowser|browser\.js/, 12],
  [/startPanel|launchCli\(\['panel'/, 10],
  [/startPostgres/, 6],
  [/buildVenv|venv\.js/, 15],
  [/installedAgent\(/, 10],
  [/scripts\/exe\.mjs|'npm', \['pack'/, 10],
  [/launchCli\(|\bcli\(\[/, 8],
  [/sandboxSupport|chooseSandbox/, 6],
  [/startTestRuntime|Runtime\.start/, 2],
  [/python3|\.py['"`]/, 2],
];

const guessed = new Map<string, number>();

/** What a file's text says it starts, as a cost. */
function guess(file: string): number {
  let cost = guessed.get(file);
  if (cost === undefined) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      /* gone: no cost */
    }
    cost = COSTS.reduce((sum, [re, c]) => sum + (re.test(text) ? c : 0), 0);
    guessed.set(file, cost);
  }
  return cost;
}

export default class SlowFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const cache = this.ctx.cache;
    const duration = (f: TestSpecification) => cache.getFileTestResults(`${f.project.name}:${relative(this.ctx.config.root, f.moduleId)}`)?.duration;
    // Within each project, slow first. The shared project's slowest start the run, one a worker;
    // the few files that each need a process of their own (the isolated project: the SDK suites)
    // come right after them, where their workers' start meets a busy machine; then the shared
    // project's other files, whose many short ones fill the tail. Last, the isolated files ran
    // alone at the run's end (2026-11-29: their workers starting for 5.3 s with nothing else to
    // run, then 10 s of three or fewer files); first, they held the slow files back 17 s.
    const groups = new Map<string, TestSpecification[]>();
    for (const f of await super.sort(files)) groups.set(f.project.name, [...(groups.get(f.project.name) ?? []), f]);
    const bySpeed = (g: TestSpecification[]) =>
      [...g].sort((a, b) => {
        const [da, db] = [duration(a), duration(b)];
        if (da !== undefined && db !== undefined) return db - da;
        return guess(b.moduleId) - guess(a.moduleId);
      });
    const shared = bySpeed([...groups.values()].filter((g) => !g[0]!.project.config.isolate).flat());
    const isolated = bySpeed([...groups.values()].filter((g) => g[0]!.project.config.isolate).flat());
    const first = Math.max(1, Number(this.ctx.config.maxWorkers) || 1);
    return [...shared.slice(0, first), ...isolated, ...shared.slice(first)];
  }
}
