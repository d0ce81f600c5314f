import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { makeFolders } from '../state/index.js';

// The coding agents iron-cage knows by their command (`start -- claude …`, `start -- codex …`),
// and how each is pointed at the cage the way it is configured: its environment, and a
// configuration home of the cage's for the run (never the user's own ~/.claude or ~/.codex,
// which are neither read nor written). docs/agents.md says what each reaches and how to add one.

/** What a launch of a known coding agent is told, on top of any agent's environment (env.ts). */
export interface CodingAgentLaunch {
  /** Its configuration home for this run: a folder of the cage's, which the sandbox lets it write. */
  home: string;
  /** The run token of this launch (a restart gets a fresh one). */
  token: string;
  /** Whether it runs in iron-cage's sandbox. */
  sandboxed: boolean;
}

export interface CodingAgent {
  /** Its name, as the start line and docs say it. */
  readonly name: string;
  /** The command names (a path's last part) that run it. */
  readonly commands: readonly string[];
  /** Writes its configuration into `home`, once per run before its first launch; `url` is the cage's. */
  prepare(home: string, run: { url: string; sandboxed: boolean }): void;
  /** Its variables for one launch, over the agent's environment. */
  env(l: CodingAgentLaunch): Record<string, string>;
  /** Variables of the user's that would send it past the cage (another provider, a login of its own): not given to it. */
  readonly unset: RegExp;
}

/**
 * Claude Code (`claude`): the Anthropic wire at ANTHROPIC_BASE_URL with the run token as
 * ANTHROPIC_API_KEY (env.ts; used without a prompt in `-p`, its non-interactive mode), its
 * configuration and sessions in CLAUDE_CONFIG_DIR, and no traffic of its own (telemetry, error
 * reports, the auto-updater: CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC and the variables it stands
 * for). In the sandbox, IS_SANDBOX=1 says so, which is what lets it skip its permission prompts
 * (`--dangerously-skip-permissions`) when it runs as root.
 */
const CLAUDE: CodingAgent = {
  name: 'Claude Code',
  commands: ['claude'],
  prepare: () => {},
  env: (l) => ({
    CLAUDE_CONFIG_DIR: l.home,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_BUG_COMMAND: '1',
    ...(l.sandboxed ? { IS_SANDBOX: '1' } : {}),
  }),
  // Another provider (Bedrock, Vertex, Foundry…), a login or key of its own, a socket for its API.
  unset: /^(CLAUDE_CODE_USE_|CLAUDE_CODE_OAUTH_|CLAUDE_CODE_SKIP_\w+_AUTH$|CLAUDE_CODE_API_KEY_|CLAUDE_CODE_API_BASE_URL$|ANTHROPIC_UNIX_SOCKET$|ANTHROPIC_(BEDROCK|VERTEX|FOUNDRY|AWS|GOOGLE_CLOUD)_)/,
};

/** Codex's provider for the cage, by the id its config.toml gives it. */
const CODEX_PROVIDER = 'iron-cage';

/**
 * Codex CLI (`codex`): it reads no base URL from the environment, so its CODEX_HOME is the
 * cage's, with a config.toml naming a model provider at the cage (the Responses API, the run
 * token from IRON_CAGE_TOKEN) and selecting it; no login, no update check, no analytics. In
 * iron-cage's sandbox its own cannot start (it is bubblewrap too, and a sandbox may not make
 * another user namespace): its commands run unconfined by it (`sandbox_mode =
 * "danger-full-access"`), confined by iron-cage's, which lets them write the working folder only.
 */
const CODEX: CodingAgent = {
  name: 'Codex CLI',
  commands: ['codex'],
  prepare: (home, run) => {
    const toml = [
      '# Written by iron-cage for this run: Codex calls its models through the cage (docs/agents.md).',
      `model_provider = "${CODEX_PROVIDER}"`,
      'check_for_update_on_startup = false',
      ...(run.sandboxed ? ["# iron-cage's sandbox confines its commands; its own cannot start inside it.", 'sandbox_mode = "danger-full-access"'] : []),
      '',
      `[model_providers.${CODEX_PROVIDER}]`,
      'name = "Iron Cage"',
      `base_url = ${JSON.stringify(`${run.url}/v1`)}`,
      'env_key = "IRON_CAGE_TOKEN"',
      'wire_api = "responses"',
      'supports_websockets = true',
      '',
      '[analytics]',
      'enabled = false',
      '',
    ].join('\n');
    writeFileSync(join(home, 'config.toml'), toml, { mode: 0o600 });
  },
  env: (l) => ({ CODEX_HOME: l.home }),
  // Its own key for OpenAI's API: the provider above takes the run token instead.
  unset: /^(CODEX_API_KEY|CODEX_HOME)$/,
};

/** The coding agents iron-cage knows, in the order they are looked up. */
export const CODING_AGENTS: readonly CodingAgent[] = [CLAUDE, CODEX];

/**
 * The known coding agent a command runs, by its name (the path's last part), or null.
 * @example codingAgent('/usr/local/bin/claude')?.name // 'Claude Code'
 */
export function codingAgent(command: string): CodingAgent | null {
  const name = basename(command);
  return CODING_AGENTS.find((a) => a.commands.includes(name)) ?? null;
}

/**
 * A coding agent's configuration home for one run, made (0700) and filled: `<root>/runs/<agent id>`
 * in the first of `roots` (cacheRoots) where it can be made.
 * @example prepareHome(CODING_AGENTS[1], ['/home/ann/.cache/iron-cage'], 'co-1a2b3c4d', { url: 'http://127.0.0.1:8080', sandboxed: true }) // '/home/ann/.cache/iron-cage/runs/co-1a2b3c4d'
 */
export function prepareHome(agent: CodingAgent, roots: readonly string[], agentId: string, run: { url: string; sandboxed: boolean }): string {
  let failure: unknown = new Error('no folder to make it in');
  for (const root of roots) {
    const home = join(root, 'runs', agentId);
    try {
      makeFolders(home, 0o700);
    } catch (err) {
      failure = err;
      continue;
    }
    agent.prepare(home, run);
    return home;
  }
  throw new Error(`cannot make ${agent.name}'s configuration folder for the run (in ${roots.join(', ')}): ${(failure as Error).message}`);
}
