import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { checkPanelConfig } from '../config/index.js';
import { ConfigError } from '../core/errors.js';
import { VERSION } from '../core/index.js';
import { configRef } from '../domain/secrets/index.js';
import type { Platform, Service } from '../server/index.js';
import { ReportStore } from '../state/index.js';
import { PanelClient } from './client.js';
import { PANEL_SECRETS_POLL_MS, PanelSecrets } from './panel-secrets.js';
import { Reporter } from './reporter.js';

/** The PEM text of `panel.ca`, or a ConfigError (exit 2) that says what is wrong with the file. */
function readCa(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`panel.ca ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`panel.ca ${path}: not a PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
  return pem;
}

/**
 * Reporting to a control panel (`--panel`, config `panel:`): the runtime's events, calls, tool
 * calls and breakers go to the panel's `POST /api/telemetry` in the background, from the state
 * file, so the agent never waits on the panel. Null (no service) without `panel.url`; the panel
 * keys are checked either way (a token with no panel is a mistake said at start, exit 2). A token
 * that is a `secret:NAME` is read from the vault per request, so it starts once the vault has been tried.
 *
 * The config's `panel:NAME` references (provider keys, tool headers) are read from the same
 * panel with the same token: `ready` resolves once they all are (or rejects naming them), then
 * PanelSecrets keeps them current. Build it after the services that want references.
 */
export function reportService(ctx: Pick<Platform, 'config' | 'state' | 'logger' | 'secrets'>, o: { after?: Promise<unknown> } = {}): Service | null {
  const p = ctx.config.panel;
  checkPanelConfig(p);
  const panelRefs = ctx.secrets.wanted('panel');
  if (p.url === null) {
    if (panelRefs.length > 0)
      throw new ConfigError(`${panelRefs.map((n) => `panel:${n}`).join(', ')}: the config refers to a control panel's secrets but names no panel (--panel URL --panel-token ic_rt_…)`);
    return null;
  }
  const url = p.url;
  const tokenRef = configRef(p.token);
  if (tokenRef?.source === 'panel') throw new ConfigError(`panel.token: cannot be ${p.token} (the token is what reads the panel's secrets); give it as it is or as secret:NAME`);
  if (tokenRef) ctx.secrets.want(tokenRef);
  const client = new PanelClient({ url, ca: p.ca === null ? null : readCa(p.ca), token: tokenRef ? () => ctx.secrets.get(tokenRef) : () => p.token });
  const reporter = new Reporter({ store: new ReportStore(ctx.state), state: ctx.state, client, url, hostname: hostname(), version: VERSION });
  const secrets = panelRefs.length === 0 ? null : new PanelSecrets({ client, refs: ctx.secrets, names: panelRefs, environment: ctx.config.environment, logger: ctx.logger });
  // The vault's outcome does not matter here: without the secret, the reporter says so itself.
  const after = Promise.resolve(o.after).catch(() => undefined);
  void after.then(() => reporter.start());
  const ready = after.then(async () => {
    if (!secrets) return;
    await secrets.load();
    secrets.start();
  });
  return {
    name: 'report',
    ready,
    announce() {
      ctx.logger.info(`Telemetry goes to the panel ${url} in the background (the agent never waits on it)`);
      if (secrets) ctx.logger.info(`${panelRefs.map((n) => `panel:${n}`).join(', ')} read from the panel (in memory only; checked for rotations every ${PANEL_SECRETS_POLL_MS / 1000} s)`);
    },
    async close() {
      await secrets?.close();
      await reporter.close();
    },
  };
}
