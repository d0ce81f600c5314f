import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_DEFAULTS } from '../../src/config/index.js';
import { sandboxPolicy, sandboxSupport, SandboxRunner } from '../../src/sandbox/index.js';
import { seccompFilter } from '../../src/sandbox/seccomp.js';
import { sdkPath } from '../../src/supervisor/index.js';
import { until } from '../helpers/runtime.js';

// The sandbox's bridge (src/sandbox/bridge.ts) on a real bwrap: the listener made inside reaches the
// cage's side and carries the agent's connections, new and kept alive, straight to the server the
// runner hands them to; the agent holds nothing of the bridge (no channel descriptor, no variable);
// the listener is closed when the agent ends; and a bridge that cannot start is said, not hung on.

const supported = sandboxSupport();
// CI installs bubblewrap (.ci/run); Perl is Debian's perl-base: there the suite must run, never skip.
if (process.env.IRON_CAGE_CI && !supported.ok) throw new Error(`the sandbox cannot start here: ${supported.reason}`);

let dir: string;
let http: HttpServer;
let port: number;
/** Every connection the runner handed over: the listener it came from (the HTTP server makes itself the socket's `server` next) and where that listened. */
const handed: Array<{ listener: Server | undefined; at: unknown }> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'iron-bridge-'));
  http = createServer((req, res) => res.end(`${req.url} answered by the cage\n`));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  port = (http.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((r) => http.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

function runner(perl: string): SandboxRunner {
  if (!supported.ok || supported.kind !== 'bwrap') throw new Error('bwrap only');
  return new SandboxRunner({
    bwrap: supported.bwrap,
    perl,
    prlimit: supported.prlimit,
    seccomp: seccompFilter(),
    accept: (s) => {
      const listener = (s as Socket & { server?: Server }).server;
      handed.push({ listener, at: listener?.address() });
      http.emit('connection', s);
    },
    policy: (spec) =>
      sandboxPolicy({ cwd: spec.cwd, script: join(dir, 'agent.py'), interpreter: spec.command, sdk: sdkPath(), port, write: [], read: [], limits: SANDBOX_DEFAULTS.limits, secretFiles: [] }),
  });
}

/** A Python agent's lines, and how it ended. */
async function run(r: SandboxRunner, code: string) {
  const proc = await r.start({ command: 'python3', args: ['-S', '-c', code], env: { PATH: process.env.PATH ?? '' }, cwd: dir });
  const lines: string[] = [];
  proc.onLine((_s, line) => lines.push(line));
  const exit = await proc.exited;
  return { lines, exit };
}

const agent = (port: number) => `
import http.client, os, stat
def get(c, path):
    c.request("GET", path)
    return c.getresponse().read().decode().strip()
kept = http.client.HTTPConnection("127.0.0.1", ${port}, timeout=10)
print("kept", get(kept, "/one"), "|", get(kept, "/two"), flush=True)
kept.close()
for i in range(3):
    fresh = http.client.HTTPConnection("127.0.0.1", ${port}, timeout=10)
    print("fresh", get(fresh, f"/new-{i}"), flush=True)
    fresh.close()
# What of the bridge the agent could hold: its channel's descriptor, its variables.
socks = []
for f in os.listdir("/proc/self/fd"):
    try:
        if int(f) > 2 and stat.S_ISSOCK(os.fstat(int(f)).st_mode):
            socks.append(int(f))
    except OSError:
        pass
print("sockets", socks, "vars", sorted(k for k in os.environ if k.startswith("NODE_CHANNEL")), flush=True)
`;

describe.skipIf(!supported.ok || supported.kind !== 'bwrap')('the sandbox bridge', () => {
  it("carries the agent's connections, new and kept alive, to the cage's server; the agent holds nothing of it; closed with the agent", async () => {
    const r = runner(supported.ok && supported.kind === 'bwrap' ? supported.perl : '');
    try {
      handed.length = 0;
      const { lines, exit } = await run(r, agent(port));
      expect(exit.code, lines.join('\n')).toBe(0);
      expect(lines).toContain('kept /one answered by the cage | /two answered by the cage');
      for (let i = 0; i < 3; i++) expect(lines).toContain(`fresh /new-${i} answered by the cage`);
      expect(lines).toContain('sockets [] vars []');
      // One connection kept alive and three new ones, each the kernel's, from the sandbox's listener on the cage's port.
      expect(handed).toHaveLength(4);
      const listener = handed[0]?.listener;
      for (const h of handed) expect(h).toEqual({ listener, at: { address: '127.0.0.1', family: 'IPv4', port } });
      // The agent has ended: its sandbox's listener is closed.
      await until(() => listener?.listening === false, 10_000, 10);
    } finally {
      await r.close();
    }
  }, 60_000);

  it('a bridge that cannot start ends the start in words, before the agent runs', async () => {
    const r = runner('/bin/false');
    try {
      const { lines, exit } = await run(r, 'print("the agent ran", flush=True)');
      expect(lines).not.toContain('the agent ran');
      expect(exit.code).toBe(70);
      expect(exit.limit, JSON.stringify({ lines, exit })).toBe('could not reach the cage: its bridge did not start');
    } finally {
      await r.close();
    }
  }, 60_000);

  it('leaves nothing in the temporary folder, however the cage ends (the seccomp program is handed over by a descriptor with no name)', async () => {
    const own = mkdtempSync(join(tmpdir(), 'iron-bridge-tmp-'));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = own;
    const r = runner(supported.ok && supported.kind === 'bwrap' ? supported.perl : '');
    try {
      const { lines, exit } = await run(r, 'print("filtered", flush=True)');
      expect(exit.code, lines.join('\n')).toBe(0);
      // Before the runner is closed (a cage killed never closes it): nothing of the run is left.
      expect(readdirSync(own)).toEqual([]);
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
      await r.close();
      rmSync(own, { recursive: true, force: true });
    }
  }, 60_000);
});
