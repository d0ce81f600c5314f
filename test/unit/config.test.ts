import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, DEFAULTS } from '../../src/config/index.js';
import { tempDir } from '../helpers/runtime.js';

describe('config', () => {
  it('defaults when nothing is given', () => {
    const { dir, cleanup } = tempDir();
    const c = loadConfig({ env: {}, cwd: dir });
    expect(c).toMatchObject({ port: 8080, host: '127.0.0.1', safetyMode: 'redact', logFormat: 'pretty', budgetMicros: null, configFile: null });
    expect(c.db).toBe(join(dir, 'iron_state.db'));
    expect(c.restart).toEqual(DEFAULTS.restart);
    cleanup();
  });

  it('reads YAML and TOML, snake_case keys, and layers env then flags on top', () => {
    const { dir, cleanup } = tempDir();
    writeFileSync(join(dir, 'iron-cage.toml'), 'budget = "$25"\nport = 9000\nsafety_mode = "warn"\n[restart]\nmax_restarts = 7\n');
    const fromFile = loadConfig({ env: {}, cwd: dir });
    expect(fromFile).toMatchObject({ budgetMicros: 25_000_000, port: 9000, safetyMode: 'warn', restart: { maxRestarts: 7, policy: 'on-failure' } });
    expect(fromFile.configFile).toBe(join(dir, 'iron-cage.toml'));
    const withEnv = loadConfig({ env: { IRON_CAGE_PORT: '9100', IRON_CAGE_RESTART: 'never' }, cwd: dir });
    expect(withEnv).toMatchObject({ port: 9100, restart: { policy: 'never', maxRestarts: 7 } });
    const withFlags = loadConfig({ env: { IRON_CAGE_PORT: '9100' }, flags: { port: '9200', budget: '50.00' }, cwd: dir });
    expect(withFlags).toMatchObject({ port: 9200, budgetMicros: 50_000_000 });
    expect(loadConfig({ env: {}, flags: { allowFaults: true }, cwd: dir }).allowFaults).toBe(true);
    expect(loadConfig({ env: { IRON_CAGE_ALLOW_FAULTS: '1' }, cwd: dir }).allowFaults).toBe(true);
    writeFileSync(join(dir, 'other.yaml'), 'budget: 12.5\nlog_format: json\ncors_origins: ["http://localhost:5173"]\n');
    expect(loadConfig({ configPath: 'other.yaml', env: {}, cwd: dir })).toMatchObject({ budgetMicros: 12_500_000, logFormat: 'json', corsOrigins: ['http://localhost:5173'] });
    cleanup();
  });

  it('names the source and the key of a bad value', () => {
    const { dir, cleanup } = tempDir();
    writeFileSync(join(dir, 'c.yaml'), 'restart:\n  extra: 1\n');
    expect(() => loadConfig({ configPath: 'c.yaml', env: {}, cwd: dir })).toThrow(/c\.yaml: unknown key 'restart\.extra'/);
    writeFileSync(join(dir, 'd.yaml'), 'restart:\n  policy: sometimes\n');
    expect(() => loadConfig({ configPath: 'd.yaml', env: {}, cwd: dir })).toThrow(/d\.yaml: restart\.policy: must be one of on-failure, never/);
    writeFileSync(join(dir, 'e.yaml'), '- a\n- b\n');
    expect(() => loadConfig({ configPath: 'e.yaml', env: {}, cwd: dir })).toThrow(/the top level must be a mapping/);
    writeFileSync(join(dir, 'f.json'), '{}');
    expect(() => loadConfig({ configPath: 'f.json', env: {}, cwd: dir })).toThrow(/unsupported file type '.json'/);
    writeFileSync(join(dir, 'g.yaml'), 'restart:\n  backoff_ms: 5000\n  max_backoff_ms: 1000\n');
    expect(() => loadConfig({ configPath: 'g.yaml', env: {}, cwd: dir })).toThrow(/max_backoff_ms \(1000\) must not be below restart\.backoff_ms \(5000\)/);
    // A number too large is Infinity to YAML; a value of neither type a key takes says which it takes ("Invalid input" before).
    writeFileSync(join(dir, 'h.yaml'), 'budget: 1e400\n');
    expect(() => loadConfig({ configPath: 'h.yaml', env: {}, cwd: dir })).toThrow(/h\.yaml: budget: must be a finite number, not Infinity \(a number too large, like 1e400, is read as Infinity\)$/);
    writeFileSync(join(dir, 'i.yaml'), 'budget: true\n');
    expect(() => loadConfig({ configPath: 'i.yaml', env: {}, cwd: dir })).toThrow(/i\.yaml: budget: expected number or string$/);
    // A union of literals says them all; one alternative that read further says its own reason, where it found it.
    writeFileSync(join(dir, 'l.yaml'), 'providers:\n  simulated:\n    failures:\n      - from_call: 1\n        status: 404\n');
    expect(() => loadConfig({ configPath: 'l.yaml', env: {}, cwd: dir })).toThrow(/l\.yaml: providers\.simulated\.failures\.0\.status: must be one of 429, 500, 502, 503, timeout$/);
    writeFileSync(join(dir, 'm.yaml'), 'policies:\n  - name: p\n    action: deny\n    match:\n      method: [FETCH]\n');
    expect(() => loadConfig({ configPath: 'm.yaml', env: {}, cwd: dir })).toThrow(/m\.yaml: policies\.rules\.0\.match\.method\.0: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS$/);
    writeFileSync(join(dir, 'j.yaml'), 'port: .inf\n');
    expect(() => loadConfig({ configPath: 'j.yaml', env: {}, cwd: dir })).toThrow(/j\.yaml: port: must be a finite number, not Infinity/);
    // A FIFO (or a device) would hold the read forever, waiting for a writer.
    execFileSync('mkfifo', [join(dir, 'k.yaml')]);
    expect(() => loadConfig({ configPath: 'k.yaml', env: {}, cwd: dir })).toThrow(/k\.yaml: is not a regular file \(a FIFO\); give a file's path$/);
    expect(() => loadConfig({ configPath: '.', env: {}, cwd: dir })).toThrow(/config .*: is a directory$/);
    // A state file's path that names a folder made a file of the folder's name (`--db new/` made `new`).
    for (const db of ['new/', '.', '..', 'data/..', '/'])
      expect(() => loadConfig({ env: {}, flags: { db }, cwd: dir }), db).toThrow(/--db: names a folder: give the state file's path, e\.g\. data\/iron_state\.db/);
    expect(loadConfig({ env: {}, flags: { db: 'data/iron_state.db' }, cwd: dir }).db).toMatch(/data\/iron_state\.db$/);
    // A host that no link can hold (`dashboard --host 'bad host'` printed http://bad host:8080/…).
    for (const host of ['bad host', 'exa/mple', 'http://cage.example', 'cage:8080', '127.0.0.1:8080', 'cafe:8080', '[::1]', 'a..b'])
      expect(() => loadConfig({ env: {}, flags: { host }, cwd: dir }), host).toThrow(/--host: must be a host name or an IP address/);
    for (const host of ['127.0.0.1', '0.0.0.0', '::', '::1', 'fe80::1%eth0', 'localhost', 'cage.example.com', 'my_host', 'bücher.example'])
      expect(loadConfig({ env: {}, flags: { host }, cwd: dir }).host, host).toBe(host);
    expect(() => loadConfig({ env: { IRON_CAGE_VERBOSE: 'maybe' }, cwd: dir })).toThrow(/IRON_CAGE_VERBOSE: "maybe" is not true or false/);
    expect(() => loadConfig({ env: {}, flags: { port: '1.5' }, cwd: dir })).toThrow(/--port: "1.5" is not a whole number/);
    cleanup();
  });
});
