import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { nodeCommand } from '../core/executable.js';
import { isExecutableFile, which } from '../core/which.js';
import { AGENT_EXTENSIONS, agentLanguage, type AgentLanguage } from '../supervisor/index.js';

/** The agent's script, resolved: it must be a readable file iron-cage knows how to run (by its extension). */
export function checkScript(script: string, cwd: string): { path: string; language: AgentLanguage } {
  const path = resolve(cwd, script);
  // A name with no extension is more likely a program meant to be run: said how.
  const asCommand = extname(script) === '' ? ` (a program runs after --: iron-cage start -- ${script} …)` : '';
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new ConfigError(`agent script ${script}: file not found${asCommand}`);
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
    throw new ConfigError(
      `agent script ${script}: ${what} (${AGENT_EXTENSIONS.join(', ')}: .py runs on Python, the others on Node.js; any other program runs after --: iron-cage start -- ${script.includes('/') ? script : `./${script}`})`,
    );
  }
  return { path, language };
}

/** Find the interpreter the way the shell would, so a typo fails now rather than as a crash loop. */
export function checkPython(python: string, env: NodeJS.ProcessEnv): void {
  if (python.includes('/') ? isExecutableFile(python) : which(python, env.PATH) !== null) return;
  throw new ConfigError(`--python: interpreter '${python}' not found${python.includes('/') ? '' : ' on PATH'} (install Python 3 or pass --python /path/to/python3)`);
}

/**
 * The program `start -- <command>` runs, found now as the shell would (a name on PATH, or a path
 * from the working folder), so that a typo is one line and exit 2 before anything starts rather
 * than a crash at launch. Returns its absolute path, as it is run.
 *
 * @example checkCommand('claude', process.cwd(), process.env) // '/usr/local/bin/claude'
 */
export function checkCommand(command: string, cwd: string, env: NodeJS.ProcessEnv): string {
  if (command === '') throw new ConfigError('agent command: empty (name a program after --, e.g. iron-cage start -- claude -p "…")');
  if (!command.includes('/')) {
    const found = which(command, env.PATH);
    if (found === null) throw new ConfigError(`agent command '${command}': not found on PATH (install it, or give its path)`);
    return found;
  }
  const path = resolve(cwd, command);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new ConfigError(`agent command ${command}: file not found`);
  }
  if (!st.isFile()) throw new ConfigError(`agent command ${command}: not a file`);
  if (!isExecutableFile(path)) throw new ConfigError(`agent command ${command}: not executable (chmod +x ${command}, or name its interpreter: -- sh ${command})`);
  return path;
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

/** How the check is run while the agent is sandboxed (src/sandbox `confineCheck`): confined, read-only, no network. */
export type Confined = (command: string, args: string[]) => { command: string; args: string[] };

/**
 * An agent that cannot compile is refused before anything starts, in one line
 * (`agent.py:3: SyntaxError: invalid syntax`), rather than crashing at once under the restart
 * policy: a `.py` agent is compiled by its Python (without running it or writing
 * `__pycache__`), a Node one by `node --check`. A check that cannot run says nothing (the
 * agent's own start will). Python runs isolated (`-I`: neither the working folder nor PYTHON*
 * variables on its path); while the agent is sandboxed, the check is too (`confine`): its
 * interpreter may be a venv in the agent's folder, which the agent could have changed.
 *
 * @example
 * checkSyntax('python3', 'python', 'agent.py', process.cwd()); // throws ConfigError on a syntax error
 */
export function checkSyntax(interpreter: string, language: AgentLanguage, script: string, cwd: string, confine: Confined | null = null): void {
  const path = resolve(cwd, script);
  const run: Run = (args, env) => {
    const c = confine ? confine(interpreter, args) : { command: interpreter, args };
    return spawnSync(c.command, c.args, { cwd, encoding: 'utf8', timeout: 15_000, ...(env ? { env } : {}) });
  };
  const found = language === 'python' ? pythonSyntaxError(run, path) : nodeSyntaxError(run, path);
  if (!found) return;
  throw new ConfigError(`agent script ${script}${found.line ? `:${found.line}` : ''}: ${found.what || 'does not compile'} (fix it and start again)`);
}

/** The interpreter run with `args`. */
type Run = (args: string[], env?: NodeJS.ProcessEnv) => { status: number | null; stdout: string; stderr: string; error?: Error };

function pythonSyntaxError(run: Run, path: string): { line: string; what: string } | null {
  // `-S`: compiling needs no site-packages (importing `site` is a third of the check's CPU: ~40 ms a start).
  const r = run(['-I', '-S', '-c', COMPILE, path], { ...process.env, PYTHONDONTWRITEBYTECODE: '1' });
  if (r.status !== 3) return null;
  const [line = '', what = ''] = r.stdout.split('\t', 2);
  return { line, what: what.trim() };
}

// `node --check` prints `<path>:<line>`, the source line, a caret, then `SyntaxError: …`.
function nodeSyntaxError(run: Run, path: string): { line: string; what: string } | null {
  const r = run(['--check', path], { ...process.env, ...nodeCommand().env });
  if (r.status === 0 || r.error) return null;
  const lines = r.stderr.split('\n');
  const what = lines.find((l) => /^\w*Error: /.test(l));
  if (!what) return null;
  const at = lines.find((l) => l.startsWith(`${path}:`));
  return { line: at ? at.slice(path.length + 1).trim() : '', what: what.trim() };
}
