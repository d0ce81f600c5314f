import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../core/errors.js';

export function checkScript(script: string, cwd: string): string {
  const path = resolve(cwd, script);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new ConfigError(`agent script ${script}: file not found`);
  }
  if (!st.isFile()) throw new ConfigError(`agent script ${script}: not a file`);
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new ConfigError(`agent script ${script}: not readable`);
  }
  return path;
}

/** Find the interpreter the way the shell would, so a typo fails now rather than as a crash loop. */
export function checkPython(python: string, env: NodeJS.ProcessEnv): void {
  const candidates =
    python.includes('/') || isAbsolute(python)
      ? [python]
      : (env.PATH ?? '')
          .split(delimiter)
          .filter(Boolean)
          .map((dir) => join(dir, python));
  for (const c of candidates) {
    try {
      if (statSync(c).isFile()) {
        accessSync(c, constants.X_OK);
        return;
      }
    } catch {
      /* next */
    }
  }
  throw new ConfigError(`--python: interpreter '${python}' not found${python.includes('/') ? '' : ' on PATH'} (install Python 3 or pass --python /path/to/python3)`);
}

// Compiles without running or writing anything (py_compile would leave a __pycache__ beside the agent).
const COMPILE = `import sys
p = sys.argv[1]
try:
    with open(p, "rb") as f:
        compile(f.read(), p, "exec", dont_inherit=True)
except (SyntaxError, ValueError) as e:
    line = getattr(e, "lineno", None)
    sys.stdout.write((f"{line}" if line else "") + "\\t" + type(e).__name__ + ": " + str(getattr(e, "msg", None) or e))
    sys.exit(3)
`;

/**
 * A Python agent that cannot compile is refused before anything starts, in one line
 * (`agent.py:3: SyntaxError: invalid syntax`), rather than crashing at once under the restart
 * policy. Only `.py` scripts are compiled; a check that cannot run says nothing (the agent's own
 * start will).
 *
 * @example
 * checkSyntax('python3', 'agent.py', process.cwd()); // throws ConfigError on a syntax error
 */
export function checkSyntax(python: string, script: string, cwd: string): void {
  if (!/\.py$/i.test(script)) return;
  const r = spawnSync(python, ['-c', COMPILE, resolve(cwd, script)], { cwd, encoding: 'utf8', timeout: 15_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  if (r.status !== 3) return;
  const [line, what] = r.stdout.split('\t', 2);
  throw new ConfigError(`agent script ${script}${line ? `:${line}` : ''}: ${what?.trim() || 'does not compile'} (fix it and start again)`);
}
