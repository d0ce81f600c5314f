import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './runtime.js';

/** Where the examples' virtual environments are kept between runs (one per set of requirements). */
const CACHE = join(ROOT, 'node_modules', '.cache', 'iron-cage-examples');
/** pip against an index that is not there gives up at once rather than retrying for minutes. */
const PIP = ['install', '--quiet', '--disable-pip-version-check', '--retries', '0', '--timeout', '30'];

export type Venv = { ok: true; python: string } | { ok: false; reason: string; missing: string | null };

function run(command: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { encoding: 'utf8', timeout: 600_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ ok: !err, out: `${stdout}${stderr}${err && !stderr ? String(err) : ''}` });
    });
  });
}

function missingFrom(pipOutput: string): string | null {
  return /No matching distribution found for (\S+)/.exec(pipOutput)?.[1] ?? null;
}

function pipFailure(requirements: string[], pipOutput: string): string {
  const last = pipOutput.trim().split('\n').slice(-3).join(' / ');
  return `pip could not install ${requirements.join(', ')} (\`pip config list\` names the index it uses): ${last}`;
}

/**
 * A Python virtual environment with every requirements file installed, built once per set of
 * requirements and base interpreter and kept under node_modules/.cache. It is built in a
 * directory of its own and renamed into place, so two processes building it at once (vitest
 * workers, two checkouts' test runs) never see half an environment: the first rename wins and
 * the other's copy is thrown away.
 *
 * @example
 * const v = await pythonVenv(['examples/python-openai/requirements.txt']);
 * if (!v.ok) throw new Error(v.reason);
 */
export async function pythonVenv(requirements: string[], base = 'python3'): Promise<Venv> {
  const who = await run(base, ['-c', 'import sys; print(sys.version); print(sys.base_prefix)']);
  if (!who.ok) return { ok: false, reason: `no ${base}: ${who.out.trim()}`, missing: null };
  const hash = createHash('sha256').update(who.out);
  for (const r of requirements) hash.update(r).update(readFileSync(join(ROOT, r)));
  const dir = join(CACHE, hash.digest('hex').slice(0, 16));
  const python = join(dir, 'bin', 'python');
  if (existsSync(python)) return { ok: true, python };

  // A set the index cannot satisfy is known in seconds from the base interpreter's pip (where it
  // has one), without building a venv to find out each run.
  const reqs = requirements.flatMap((r) => ['-r', join(ROOT, r)]);
  const dry = await run(base, ['-m', 'pip', ...PIP, '--dry-run', '--ignore-installed', ...reqs]);
  const unavailable = missingFrom(dry.out);
  if (!dry.ok && unavailable) return { ok: false, reason: pipFailure(requirements, dry.out), missing: unavailable };

  mkdirSync(CACHE, { recursive: true });
  const building = `${dir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  try {
    // Without a pip of its own (ensurepip's install costs 4 s of CPU a venv): the base's pip installs
    // into it (`--python`, pip 22.3 on); a base without pip (Debian's python3 without python3-pip)
    // or with an older one gets the venv's own.
    const venv = await run(base, ['-m', 'venv', '--without-pip', building]);
    if (!venv.ok) return { ok: false, reason: `\`${base} -m venv\` failed (on Debian: apt-get install python3-venv): ${venv.out.trim()}`, missing: null };
    let pip = await run(base, ['-m', 'pip', '--python', join(building, 'bin', 'python'), ...PIP, ...reqs]);
    if (!pip.ok && /no such option: --python|No module named pip/.test(pip.out)) {
      const ensured = await run(join(building, 'bin', 'python'), ['-m', 'ensurepip', '--default-pip']);
      pip = ensured.ok ? await run(join(building, 'bin', 'python'), ['-m', 'pip', ...PIP, ...reqs]) : ensured;
    }
    if (!pip.ok) return { ok: false, reason: pipFailure(requirements, pip.out), missing: missingFrom(pip.out) };
    try {
      renameSync(building, dir);
    } catch (err) {
      if (!existsSync(python)) throw err; // not a lost race: a real failure
    }
    return { ok: true, python };
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
}
