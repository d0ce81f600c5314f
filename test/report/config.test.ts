import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/core/logger.js';
import { reportService } from '../../src/report/index.js';
import { SecretRefs } from '../../src/secrets/index.js';
import { StateManager } from '../../src/state/index.js';
import { cageCredentials } from '../../src/supervisor/index.js';
import { cli, CLI_TEST_TIMEOUT_MS, cliInProcess } from '../helpers/cli.js';
import { tempDir } from '../helpers/runtime.js';

// --panel, --panel-token, --panel-ca and their config keys: what is refused before anything
// starts (exit 2), and where the token may not go.

describe('the panel options', () => {
  it(
    'refuse a plain http:// panel beyond loopback, a panel without a token, a token without a panel and a CA that is no certificate, with exit 2 and before anything starts',
    async () => {
      const { dir, cleanup } = tempDir();
      try {
        const db = (n: number) => join(dir, `s${n}.db`);
        writeFileSync(join(dir, 'text.pem'), 'not a certificate\n');
        // Refused before anything starts (no handler left behind, no state file made): in this process,
        // but for one, spawned first (before an in-process run sets its environment variable in this
        // process's environment).
        const [badCa, clear, noToken, noPanel, notPem] = await Promise.all([
          cli(['serve', '--db', db(4), '--port', '0', '--panel', 'https://panel.example:8443', '--panel-ca', join(dir, 'none.pem')], { env: { IRON_CAGE_PANEL_TOKEN: 'ic_rt_x' } }),
          cliInProcess(['serve', '--db', db(1), '--port', '0', '--panel', 'http://panel.example:8443', '--panel-token', 'ic_rt_x']),
          cliInProcess(['serve', '--db', db(2), '--port', '0'], { env: { IRON_CAGE_PANEL: 'https://panel.example:8443' } }),
          cliInProcess(['start', 'agent.py', '--db', db(3), '--port', '0', '--panel-token', 'ic_rt_x'], { cwd: dir }),
          cliInProcess(['serve', '--db', db(5), '--port', '0', '--panel', 'https://panel.example:8443', '--panel-token', 'ic_rt_x', '--panel-ca', join(dir, 'text.pem')]),
        ]);
        expect([clear.code, noToken.code, noPanel.code, badCa.code, notPem.code]).toEqual([2, 2, 2, 2, 2]);
        for (const n of [1, 2, 3, 4, 5]) expect(existsSync(db(n)), `state file ${n} made by a refused run`).toBe(false);
        expect(notPem.stderr).toContain(`panel.ca ${join(dir, 'text.pem')}: not a PEM certificate`);
        expect(clear.stderr).toContain('panel.url http://panel.example:8443: plain http:// beyond this machine would send the runtime token in clear');
        expect(noToken.stderr).toContain('needs a runtime token: --panel-token (or IRON_CAGE_PANEL_TOKEN');
        expect(noPanel.stderr).toContain('panel.token and panel.ca need panel.url');
        expect(badCa.stderr).toContain(`panel.ca ${join(dir, 'none.pem')}: file not found`);
      } finally {
        cleanup();
      }
    },
    CLI_TEST_TIMEOUT_MS,
  );

  it('take a loopback http:// panel (a tunnel), a URL with a path, and refuse one with credentials or a query', () => {
    expect(loadConfig({ env: { IRON_CAGE_PANEL: 'http://127.0.0.1:9443/ic' }, cwd: '/' }).panel.url).toBe('http://127.0.0.1:9443/ic');
    expect(() => loadConfig({ env: { IRON_CAGE_PANEL: 'https://user:pw@panel.example' }, cwd: '/' })).toThrow(/^IRON_CAGE_PANEL: must be an https:\/\/ URL/);
    expect(() => loadConfig({ flags: { panel: 'https://panel.example/?token=x' }, cwd: '/' })).toThrow(/^--panel: must be an https:\/\/ URL/);
  });

  it('read a CA file that is a PEM certificate, and refuse one that is not', async () => {
    const { dir, cleanup } = tempDir();
    const state = StateManager.open(join(dir, 's.db'));
    try {
      const notPem = join(dir, 'ca.txt');
      writeFileSync(notPem, 'hello');
      const ctx = { state, logger: createLogger({ format: 'json', level: 'error' }), secrets: new SecretRefs() };
      const config = { ...DEFAULTS, panel: { url: 'https://panel.example:8443', token: 'ic_rt_x', ca: notPem } };
      expect(() => reportService({ ...ctx, config })).toThrow(`panel.ca ${notPem}: not a PEM certificate`);
      // A token that is a vault reference is asked of the vault.
      const s = reportService({ ...ctx, config: { ...config, panel: { ...config.panel, token: 'secret:PANEL_TOKEN', ca: null } } });
      expect(ctx.secrets.wanted('secret')).toEqual(['PANEL_TOKEN']);
      await s?.close?.();
      // No panel: no service.
      expect(reportService({ ...ctx, config: DEFAULTS })).toBeNull();
    } finally {
      await state.close();
      cleanup();
    }
  });

  it('keep the runtime token from the agent, whatever variable holds a copy', () => {
    const withheld = cageCredentials({ ...DEFAULTS, panel: { url: 'https://panel.example', token: 'ic_rt_secret_value_123', ca: null } }, {});
    expect(withheld.values.has('ic_rt_secret_value_123')).toBe(true);
  });
});
