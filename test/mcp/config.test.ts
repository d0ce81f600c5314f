import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { confineLaunched } from '../../src/sandbox/launched.js';
import { tempDir } from '../helpers/runtime.js';

// `mcp.servers`: every mistake refused at load time with the key that holds it, as the rest of the config.

function load(yaml: string) {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'iron-cage.yaml'), yaml);
    return loadConfig({ env: {}, cwd: dir });
  } finally {
    cleanup();
  }
}

describe('mcp.servers in the config file', () => {
  it('fills every default, for a url server and a command one', () => {
    const c = load(
      'mcp:\n  servers:\n    gh: { url: "https://mcp.example/mcp", headers: { Authorization: "Bearer ${secret:GH}" }, tools: { allow: [search_*], cost_usd: { search_code: 0.01 } } }\n    files: { command: npx, args: [-y, server-filesystem, ./data] }\n',
    );
    expect(c.mcp.gh).toMatchObject({
      target: { kind: 'http', url: 'https://mcp.example/mcp', transport: 'auto', headers: { Authorization: 'Bearer ${secret:GH}' } },
      timeoutMs: 60_000,
      allow: ['search_*'],
      deny: [],
      costPerCallMicros: 0,
      toolCostMicros: { search_code: 10_000 },
      maxResultBytes: 8 * 1024 * 1024,
      breaker: { failureThreshold: 5, cooldownMs: 30_000 },
    });
    expect(c.mcp.files!.target).toEqual({ kind: 'stdio', command: 'npx', args: ['-y', 'server-filesystem', './data'], env: {}, cwd: null, network: true });
    expect(c.mcp.files).toMatchObject({ sampling: 'refuse', elicitation: 'refuse' });
  });

  it.each([
    ['mcp:\n  servers:\n    gh: { url: "ftp://x" }\n', /mcp\.servers\.gh\.url: must be an http\(s\) URL \(got ftp:\)/],
    ['mcp:\n  servers:\n    gh: { url: "https://u:p@x/mcp" }\n', /mcp\.servers\.gh\.url: must not contain credentials/],
    ['mcp:\n  servers:\n    gh: { timeout_s: 5 }\n', /mcp\.servers\.gh: needs either url .* or command/],
    ['mcp:\n  servers:\n    gh: { url: "https://x/mcp", command: npx }\n', /mcp\.servers\.gh: needs either url .* not both/],
    ['mcp:\n  servers:\n    gh: { url: "https://x/mcp", args: [a] }\n', /mcp\.servers\.gh\.args: is for a command \(stdio\) server, not a url/],
    ['mcp:\n  servers:\n    gh: { command: npx, headers: { A: b } }\n', /mcp\.servers\.gh\.headers: is for a url server, not a command/],
    ['mcp:\n  servers:\n    gh: { url: "https://x/mcp", network: false }\n', /mcp\.servers\.gh\.network: is for a command \(stdio\) server, not a url/],
    ['mcp:\n  servers:\n    gh: { url: "https://x/mcp", sampling: allow }\n', /mcp\.servers\.gh\.sampling: must be one of relay, refuse/],
    ['mcp:\n  servers:\n    "bad name": { command: npx }\n', /mcp\.servers\.bad name: server names must be 1-64 letters/],
    ['mcp:\n  servers:\n    gh: { command: npx, tools: { allow: ["rm -rf"] } }\n', /mcp\.servers\.gh\.tools\.allow\.0: must be a tool name or a glob/],
    ['mcp:\n  servers:\n    gh: { command: npx, timeout_s: 0 }\n', /mcp\.servers\.gh\.timeout_s: must be above 0/],
    ['mcp:\n  servers:\n    gh: { command: npx, transport: sse }\n', /mcp\.servers\.gh\.transport: is for a url server/],
    ['mcp:\n  servers:\n    gh: { url: "https://x/mcp", transport: websocket }\n', /mcp\.servers\.gh\.transport: must be one of streamable-http, sse, auto/],
    ['mcp:\n  servers:\n    gh: { command: npx, colour: red }\n', /mcp\.servers\.gh.*colour/],
    ['mcp:\n  server: {}\n', /mcp.*server/],
  ])('refuses %j naming the key', (yaml, message) => {
    expect(() => load(yaml)).toThrow(message);
  });

  it('a command server whose command is not there is refused at start, sandboxed or not (it was "unavailable" at the first call)', () => {
    const { dir, cleanup } = tempDir();
    try {
      const config = (command: string) => {
        writeFileSync(join(dir, 'iron-cage.yaml'), `mcp:\n  servers:\n    files:\n      command: ${command}\n`);
        return loadConfig({ env: {}, cwd: dir });
      };
      expect(() => confineLaunched(undefined, config('no-such-mcp-server-d41d8c'), dir)).toThrow(/^mcp\.servers\.files\.command: 'no-such-mcp-server-d41d8c' is not found on PATH$/);
      expect(() => confineLaunched({ on: false, why: null }, config('./bin/server.py'), dir)).toThrow(/^mcp\.servers\.files\.command: '\.\/bin\/server\.py' is not a file \(/);
      expect(confineLaunched(undefined, config('node'), dir)).toBeNull();
    } finally {
      cleanup();
    }
  });
});
