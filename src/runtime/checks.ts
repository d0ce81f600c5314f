import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, extname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { AGENT_EXTENSIONS, agentLanguage, type AgentLanguage } from '../supervisor/index.js';

/** The agent's script, resolved: it must be a readable file iron-cage knows how to run (by its extension). */
export function checkScript(script: string, cwd: string): { path: string; language: AgentLanguage } {
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
  const language = agentLanguage(path);
  if (!language) {
    const ext = extname(path);
    const what = ext ? `'${ext}' is not an agent iron-cage can run` : 'no extension to say how to run it';
    throw new ConfigError(`agent script ${script}: ${what} (${AGENT_EXTENSIONS.join(', ')}: .py runs on Python, the others on Node.js)`);
  }
  return { path, language };
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
