import { mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { programFolders } from '../../src/sandbox/policy.js';
import { agentEnv, codingAgent, prepareHome } from '../../src/supervisor/index.js';
import { tempDir } from '../helpers/runtime.js';

// The coding agents iron-cage knows (src/supervisor/coding-agents.ts) and what a program run as
// the agent may read in the sandbox (programFolders): the parts the real-CLI test
// (test/integration/coding-agents.test.ts) relies on, each said once here.

const NONE = { names: new Set<string>(), values: new Set<string>() };

describe('the coding agents iron-cage knows', () => {
  it('are told by the command’s name, wherever it is installed', () => {
    expect(codingAgent('/usr/local/bin/claude')?.name).toBe('Claude Code');
    expect(codingAgent('codex')?.name).toBe('Codex CLI');
    expect(codingAgent('/opt/claude-tools/run.sh')).toBeNull();
    expect(codingAgent('/usr/bin/python3')).toBeNull();
  });

  it('Codex CLI gets a config.toml of the run naming the cage as its model provider, in a folder only its user reads', () => {
    const { dir, cleanup } = tempDir();
    try {
      const codex = codingAgent('codex')!;
      const home = prepareHome(codex, [join(dir, 'cache')], 'co-12345678', { url: 'http://127.0.0.1:8080', sandboxed: true });
      expect(home).toBe(join(dir, 'cache', 'runs', 'co-12345678'));
      expect(statSync(home).mode & 0o777).toBe(0o700);
      const config = parseToml(readFileSync(join(home, 'config.toml'), 'utf8'));
      expect(config).toMatchObject({
        model_provider: 'iron-cage',
        check_for_update_on_startup: false,
        sandbox_mode: 'danger-full-access',
        model_providers: { 'iron-cage': { base_url: 'http://127.0.0.1:8080/v1', env_key: 'IRON_CAGE_TOKEN', wire_api: 'responses', supports_websockets: true } },
        analytics: { enabled: false },
      });
      // Unsandboxed, Codex's own sandbox is its own business.
      const open = prepareHome(codex, [join(dir, 'cache')], 'co-87654321', { url: 'http://127.0.0.1:8080', sandboxed: false });
      expect(parseToml(readFileSync(join(open, 'config.toml'), 'utf8'))).not.toHaveProperty('sandbox_mode');
      expect(codex.env({ home, token: 't', sandboxed: true })).toEqual({ CODEX_HOME: home });
    } finally {
      cleanup();
    }
  });

  it('a home is made in the first cache folder that can hold it', () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'a-file'), '');
      const home = prepareHome(codingAgent('claude')!, [join(dir, 'a-file', 'cache'), join(dir, 'cache')], 'cl-1', { url: 'http://x', sandboxed: false });
      expect(home).toBe(join(dir, 'cache', 'runs', 'cl-1'));
      expect(() => prepareHome(codingAgent('claude')!, [join(dir, 'a-file', 'cache')], 'cl-2', { url: 'http://x', sandboxed: false })).toThrow(
        /cannot make Claude Code's configuration folder for the run/,
      );
    } finally {
      cleanup();
    }
  });

  it('Claude Code gets its configuration home, no traffic of its own, and none of the user’s variables that would route it past the cage', () => {
    const claude = codingAgent('claude')!;
    const extra = { ANTHROPIC_BASE_URL: 'http://127.0.0.1:8080', ANTHROPIC_API_KEY: 'run-token', ...claude.env({ home: '/c/h', token: 'run-token', sandboxed: true }) };
    const env = agentEnv({
      base: {
        PATH: '/usr/bin',
        CLAUDE_CODE_USE_BEDROCK: '1',
        CLAUDE_CODE_OAUTH_TOKEN: 'users',
        ANTHROPIC_AUTH_TOKEN: 'users',
        ANTHROPIC_VERTEX_PROJECT_ID: 'p',
        CLAUDE_CONFIG_DIR: '/home/ann/.claude',
        LANG: 'C',
      },
      url: 'http://127.0.0.1:8080',
      agentId: 'cl-1',
      token: 'run-token',
      restarts: 0,
      extra,
      withhold: NONE,
      drop: claude.unset,
    });
    expect(env).toMatchObject({
      PATH: '/usr/bin',
      LANG: 'C',
      CLAUDE_CONFIG_DIR: '/c/h',
      ANTHROPIC_AUTH_TOKEN: 'run-token',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      IS_SANDBOX: '1',
    });
    for (const gone of ['CLAUDE_CODE_USE_BEDROCK', 'CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_VERTEX_PROJECT_ID']) expect(env).not.toHaveProperty(gone);
    expect(claude.env({ home: '/c/h', token: 't', sandboxed: false })).not.toHaveProperty('IS_SANDBOX');
  });
});

describe('programFolders: the code a program run as the agent reads', () => {
  it('an npm-installed CLI: the folder it was found in, its package, the node_modules its dependencies are in, its interpreter', () => {
    const { dir, cleanup } = tempDir();
    try {
      const pkg = join(dir, 'node_modules', '@openai', 'codex');
      mkdirSync(join(pkg, 'bin'), { recursive: true });
      mkdirSync(join(dir, 'node_modules', '.bin'));
      writeFileSync(join(pkg, 'package.json'), '{}');
      writeFileSync(join(pkg, 'bin', 'codex.js'), '#!/usr/bin/env node\n', { mode: 0o755 });
      symlinkSync('../@openai/codex/bin/codex.js', join(dir, 'node_modules', '.bin', 'codex'));
      const folders = programFolders(join(dir, 'node_modules', '.bin', 'codex'), process.env.PATH);
      expect(folders.slice(0, 3)).toEqual([join(dir, 'node_modules', '.bin'), pkg, join(dir, 'node_modules')]);
      // node's install, found on PATH as `env` finds it.
      expect(folders).toHaveLength(4);
    } finally {
      cleanup();
    }
  });

  it('never a whole home or /tmp: a program lying right in one is read alone', () => {
    const { dir, cleanup } = tempDir();
    try {
      // tempDir is in /tmp: a program directly there has only itself to show.
      const tool = join(dir, '..', `iron-cage-tool-${process.pid}`);
      writeFileSync(tool, '\x7fELF', { mode: 0o755 });
      try {
        expect(programFolders(tool)).toEqual([tool]);
      } finally {
        rmSync(tool);
      }
    } finally {
      cleanup();
    }
  });
});
