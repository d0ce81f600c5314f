import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SANDBOX_DEFAULTS } from '../../src/config/index.js';
import { sandboxPolicy, seatbeltProfile } from '../../src/sandbox/index.js';

// The macOS sandbox's profile (Seatbelt, `sandbox-exec -p`): written from the same policy as the
// Linux sandbox. It cannot run here (Linux); its text is checked: in a Seatbelt profile the last
// matching rule decides, so each narrowing must follow what it narrows.

const dir = mkdtempSync(join(tmpdir(), 'iron-seatbelt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the Seatbelt profile', () => {
  it('denies by default; reads the system, hides the home folders, writes the working folder, hides iron-cage files last; reaches only the cage', () => {
    const home = join(dir, 'home');
    const work = join(home, 'proj');
    mkdirSync(join(work, 'iron_state.db.files'), { recursive: true });
    mkdirSync(join(home, 'data'), { recursive: true });
    writeFileSync(join(work, 'iron_state.db'), '');
    writeFileSync(join(work, 'agent.py'), '');
    const policy = sandboxPolicy({
      cwd: work,
      script: join(work, 'agent.py'),
      interpreter: '/usr/bin/python3',
      sdk: join(dir, 'sdk'),
      port: 8080,
      write: [],
      read: [join(home, 'data')],
      limits: SANDBOX_DEFAULTS.limits,
      secretFiles: [join(work, 'iron_state.db'), join(work, 'iron_state.db.files'), join(work, 'iron-cage "quoted".yaml')],
      home,
    });
    const p = seatbeltProfile(policy);
    const at = (needle: string) => {
      const i = p.indexOf(needle);
      expect(i, needle).toBeGreaterThanOrEqual(0);
      return i;
    };
    expect(p.startsWith('(version 1)\n(deny default)\n')).toBe(true);
    const hidden = at(`(deny file-read* file-write* `);
    expect(p.slice(hidden).split('\n')[0]).toContain(`(subpath "${home}")`);
    const reads = at(`(allow file-read* (subpath "${join(home, 'data')}")`);
    const writes = at(`(allow file-read* file-write* (subpath "${work}")`);
    // iron-cage's files (with the system's own secrets) denied on the last lines.
    const masked = at(`(literal "${join(work, 'iron_state.db')}")`);
    const maskedDir = at(`(subpath "${join(work, 'iron_state.db.files')}")`);
    expect(p.slice(p.lastIndexOf('\n', masked) + 1).startsWith('(deny file-read* file-write* ')).toBe(true);
    expect(at('(allow file-read*)\n')).toBeLessThan(hidden);
    expect(hidden).toBeLessThan(reads);
    expect(reads).toBeLessThan(writes);
    expect(writes).toBeLessThan(masked);
    expect(writes).toBeLessThan(maskedDir);
    expect(p).toContain('(allow network-outbound (remote tcp "localhost:8080"))');
    expect(p).not.toMatch(/network-inbound|network-bind|network\*/);
    expect(p).toContain('(allow signal (target same-sandbox))');
  });

  it('quotes paths as Seatbelt literals', () => {
    const odd = join(dir, 'a "b" \\c');
    mkdirSync(odd, { recursive: true });
    const p = seatbeltProfile({
      write: [odd],
      read: [],
      hidden: [],
      scratch: [],
      scratchBytes: 1024 * 1024,
      masked: [],
      own: [],
      reserved: [],
      pinned: [],
      port: 9000,
      allow: [],
      limits: SANDBOX_DEFAULTS.limits,
    });
    expect(p).toContain(`(subpath "${odd.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}")`);
  });
});
