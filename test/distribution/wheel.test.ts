import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as runProgram } from '../helpers/run.js';
import { ROOT, tempDir } from '../helpers/runtime.js';

// The Python SDK as a package: `npm run build:wheel` (scripts/wheel.mjs) builds a wheel an
// agent installs with pip, to `import iron_cage` outside the cage: here into a fresh venv with
// --no-index, then used from a folder outside the repository as an agent's own tests use it.

const VERSION: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
const SCRIPT = join(ROOT, 'scripts/wheel.mjs');

const run = (command: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) => runProgram(command, args, { ...o, timeoutMs: 300_000 });

/** The environment of an agent's own shell: nothing that would find the SDK but the venv. */
function agentEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONNOUSERSITE: '1' };
  for (const name of Object.keys(env)) if (name === 'PYTHONPATH' || name === 'PYTHONHOME' || name.startsWith('IRON_CAGE_')) delete env[name];
  return env;
}

/** A fresh venv (python3 -m venv, with its own pip) with the wheel installed from the file alone. */
async function buildVenv(dir: string, wheel: string): Promise<string> {
  const venv = await run('python3', ['-m', 'venv', dir]);
  if (venv.code !== 0) throw new Error(`\`python3 -m venv\` failed (on Debian: apt-get install python3-venv): ${venv.stderr}`);
  const python = join(dir, 'bin', 'python');
  const pip = await run(python, ['-m', 'pip', 'install', '--no-index', '--quiet', '--disable-pip-version-check', wheel], { env: agentEnv() });
  if (pip.code !== 0) throw new Error(`pip install --no-index ${wheel} failed: ${pip.stdout}${pip.stderr}`);
  return python;
}

/** What the wheel (a zip) holds, read by Python's own zipfile: its names and its METADATA. */
async function wheelContents(wheel: string): Promise<{ names: string[]; metadata: string }> {
  const read = `
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
meta = [n for n in names if n.endswith(".dist-info/METADATA")]
print(json.dumps({"names": names, "metadata": z.read(meta[0]).decode() if len(meta) == 1 else ""}))
`;
  const r = await run('python3', ['-c', read, wheel]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

/** The SDK's modules as the wheel should hold them: every .py file under src/python/iron_cage. */
function sdkModules(): string[] {
  return readdirSync(join(ROOT, 'src/python/iron_cage'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.py') && !f.includes('__pycache__'))
    .map((f) => `iron_cage/${f.split('\\').join('/')}`)
    .sort();
}

// An agent and its own unittest suite, as a user of the SDK writes them.
const AGENT = `import iron_cage


def run(leads, enrich):
    state = iron_cage.restore(default={"next": 0})
    for i in range(state["next"], len(leads)):
        enrich(leads[i])
        iron_cage.event(f"enriched {leads[i]}", lead=leads[i])
        iron_cage.report_progress(i + 1, len(leads))
        iron_cage.checkpoint({"next": i + 1})
`;

const AGENT_TESTS = `import unittest

import iron_cage
import my_agent
from iron_cage import BudgetExceededError, PiiBlockedError
from iron_cage.testing import IronCageTestCase, MockRuntime


class AgentTest(unittest.TestCase):
    def test_resumes_from_an_earlier_runs_checkpoint(self):
        seen = []
        with MockRuntime(checkpoint={"next": 1}, restarts=1) as mock:
            self.assertIs(iron_cage.get_runtime(), mock)
            my_agent.run(["acme", "globex", "initech"], seen.append)
        self.assertEqual(seen, ["globex", "initech"])
        self.assertEqual(mock.checkpoints, [{"next": 2}, {"next": 3}])
        mock.assert_progress(3, 3, unit="leads")
        mock.assert_checkpoint({"next": 3})
        mock.assert_event("enriched initech", lead="initech")
        mock.assert_no_event("enriched acme")
        # The mock's assertions fail as a test needs them to.
        with self.assertRaises(AssertionError):
            mock.assert_progress(2, 3)
        with self.assertRaises(AssertionError):
            mock.assert_event("enriched acme")

    def test_spend_past_the_budget_is_refused(self):
        with MockRuntime(budget=1.0) as mock:
            with self.assertRaises(BudgetExceededError):
                my_agent.run(["a", "b", "c"], lambda lead: mock.simulate_spend(0.4, model="gpt-4o-mini"))
        self.assertEqual(mock.spends, [0.4, 0.4])
        self.assertEqual(mock.assert_budget_exceeded()["limitUsd"], 1.0)
        mock.assert_progress(2, 3)
        mock.assert_checkpoint({"next": 2})


class BlockedPiiTest(IronCageTestCase):
    runtime_options = {"pii_mode": "block"}

    def test_blocked_pii_raises_and_is_recorded(self):
        self.assertIs(iron_cage.get_runtime(), self.runtime)
        with self.assertRaises(PiiBlockedError):
            self.runtime.simulate_pii("EMAIL", "jane.doe@example.com")
        self.assertEqual(self.runtime.assert_pii_detected("EMAIL")["value"], "jane.doe@example.com")


if __name__ == "__main__":
    unittest.main()
`;

const ABOUT = `
import importlib.metadata, json, sys, iron_cage
print(json.dumps({
    "version": iron_cage.__version__,
    "distribution": importlib.metadata.version("iron-cage"),
    "file": iron_cage.__file__,
    "prefix": sys.prefix,
    "in_venv": sys.prefix != sys.base_prefix,
}))
`;

describe('the Python SDK as a wheel', () => {
  const tmp = tempDir('iron-cage-wheel-test-');
  let wheel = '';
  let python = '';

  beforeAll(async () => {
    const built = await run(process.execPath, [SCRIPT, join(tmp.dir, 'release')]);
    if (built.code !== 0) throw new Error(`scripts/wheel.mjs failed (exit ${built.code}): ${built.stdout}${built.stderr}`);
    wheel = built.stdout.trim();
    python = await buildVenv(join(tmp.dir, 'venv'), wheel);
  }, 180_000);

  afterAll(() => tmp.cleanup());

  it('is built quietly into the folder given, named for the CLI version, leaving src/python clean', () => {
    expect(wheel).toBe(join(tmp.dir, 'release', `iron_cage-${VERSION}-py3-none-any.whl`));
    expect(readdirSync(join(tmp.dir, 'release'))).toEqual([`iron_cage-${VERSION}-py3-none-any.whl`]);
    const left = readdirSync(join(ROOT, 'src/python'));
    expect(left.filter((f) => f === 'build' || f === 'dist' || f.endsWith('.egg-info'))).toEqual([]);
  });

  it('holds the package alone, with METADATA of the CLI version', async () => {
    const { names, metadata } = await wheelContents(wheel);
    const info = `iron_cage-${VERSION}.dist-info`;
    expect(names.filter((n) => !n.startsWith(`${info}/`)).sort()).toEqual(sdkModules());
    expect(names.filter((n) => n.startsWith(`${info}/`)).sort()).toEqual([`${info}/METADATA`, `${info}/RECORD`, `${info}/WHEEL`]);
    expect(names.filter((n) => /__pycache__|\.pyc$|(^|\/)tests?\//.test(n))).toEqual([]);
    expect(metadata).toMatch(/^Name: iron-cage$/m);
    expect(metadata).toMatch(new RegExp(`^Version: ${VERSION.replaceAll('.', '\\.')}$`, 'm'));
    expect(metadata).toMatch(/^Requires-Python: >=3\.\d+$/m);
    expect(metadata).not.toMatch(/^Requires-Dist:/m);
  });

  it('imports from the venv, outside the repository, at the CLI version', async () => {
    const { dir: elsewhere, cleanup } = tempDir('iron-cage-agent-');
    try {
      const r = await run(python, ['-c', ABOUT], { cwd: elsewhere, env: agentEnv() });
      expect(r.code, r.stderr).toBe(0);
      const about = JSON.parse(r.stdout);
      expect(about).toMatchObject({ version: VERSION, distribution: VERSION, prefix: join(tmp.dir, 'venv'), in_venv: true });
      expect(about.file.startsWith(join(tmp.dir, 'venv', 'lib'))).toBe(true);
      expect(about.file).toMatch(/site-packages\/iron_cage\/__init__\.py$/);
    } finally {
      cleanup();
    }
  });

  it("runs an agent's own unittest suite on MockRuntime, outside the repository", async () => {
    const { dir: project, cleanup } = tempDir('iron-cage-agent-');
    try {
      writeFileSync(join(project, 'my_agent.py'), AGENT);
      writeFileSync(join(project, 'test_my_agent.py'), AGENT_TESTS);
      const r = await run(python, ['-m', 'unittest', '-v'], { cwd: project, env: agentEnv() });
      expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
      // unittest reports on stderr: every test ran and passed.
      expect(r.stderr).toMatch(/^Ran 3 tests in /m);
      expect(r.stderr).toMatch(/^OK$/m);
      for (const name of ['test_resumes_from_an_earlier_runs_checkpoint', 'test_spend_past_the_budget_is_refused', 'test_blocked_pii_raises_and_is_recorded']) {
        expect(r.stderr).toMatch(new RegExp(`^${name} .* \\.\\.\\. ok$`, 'm'));
      }
    } finally {
      cleanup();
    }
  });
});

it('refuses to build when package.json, pyproject.toml and iron_cage.__version__ differ, naming the three', async () => {
  // A copy of the parts the script reads, with the CLI a version ahead.
  const { dir, cleanup } = tempDir('iron-cage-wheel-versions-');
  try {
    mkdirSync(join(dir, 'scripts'));
    cpSync(SCRIPT, join(dir, 'scripts/wheel.mjs'));
    cpSync(join(ROOT, 'src/python'), join(dir, 'src/python'), { recursive: true, filter: (p) => !p.includes('__pycache__') });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'iron-cage', version: '99.0.0', type: 'module' }));
    const r = await run(process.execPath, [join(dir, 'scripts/wheel.mjs'), join(dir, 'out')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/versions differ/);
    expect(r.stderr).toMatch(/package\.json "version"\s+99\.0\.0$/m);
    expect(r.stderr).toMatch(new RegExp(`pyproject\\.toml \\[project\\] version\\s+${VERSION.replaceAll('.', '\\.')}$`, 'm'));
    expect(r.stderr).toMatch(new RegExp(`__init__\\.py __version__\\s+${VERSION.replaceAll('.', '\\.')}$`, 'm'));
    expect(existsSync(join(dir, 'out'))).toBe(false);
  } finally {
    cleanup();
  }
}, 60_000);
