import { hostname } from 'node:os';
import type { ApprovalDesk } from '../approvals/index.js';
import { checkPanelConfig } from '../config/index.js';
import { VERSION } from '../core/index.js';
import { configRef } from '../domain/secrets/index.js';
import type { Platform, Service } from '../server/index.js';
import type { BudgetTracker } from '../domain/budget/index.js';
import { ReportStore, type RequestsStore } from '../state/index.js';
import { PanelClient } from './client.js';
import { Leases } from './leases.js';
import { ApprovalRelay } from './panel-approvals.js';
import { PANEL_SECRETS_POLL_MS, PanelSecrets } from './panel-secrets.js';
import { Reporter } from './reporter.js';

/**
 * Reporting to a control panel (`--panel`, config `panel:`): the runtime's events, calls, tool
 * calls and breakers go to the panel's `POST /api/telemetry` in the background, from the state
 * file, so the agent never waits on the panel. Null (no service) without `panel.url`; the panel
 * keys are checked either way (a token with no panel is a mistake said at start, exit 2). A token
 * that is a `secret:NAME` is read from the vault per request, so it starts once the vault has been tried.
 *
 * Decisions a panel user takes on this runtime's approvals (the fleet page) are read back and
 * applied with the runtime's own approval desk (ApprovalRelay).
 *
 * The config's `panel:NAME` references (provider keys, tool headers) are read from the same
 * panel with the same token: `ready` resolves once they all are (or rejects naming them), then
 * PanelSecrets keeps them current. (The services that want them are built by then: `ready`
 * starts after the vault's.)
 */
export function reportService(
  ctx: Pick<Platform, 'config' | 'state' | 'logger' | 'secrets'>,
  o: {
    after?: Promise<unknown>;
    budgets?: { tracker: BudgetTracker; requests: Pick<RequestsStore, 'spendByBudget'> };
    /** The approval desk: decisions taken on the panel's fleet page are applied there. */
    desk?: Pick<ApprovalDesk, 'decide' | 'list'>;
  } = {},
): Service | null {
  const p = ctx.config.panel;
  const ca = checkPanelConfig(p);
  if (p.url === null) return null;
  const url = p.url;
  const tokenRef = configRef(p.token);
  if (tokenRef) ctx.secrets.want(tokenRef);
  const client = new PanelClient({ url, ca, token: tokenRef ? () => ctx.secrets.get(tokenRef) : () => p.token });
  // Central budgets: leases from the panel, as accounts in the runtime's one tracker (from here on no call passes one unleased).
  const leases = o.budgets ? new Leases({ tracker: o.budgets.tracker, requests: o.budgets.requests, state: ctx.state, client, url }) : null;
  // Both end within the reporter's bounded flush, side by side; the connection closes after both.
  const shared = { hello: client.hello.bind(client), send: client.send.bind(client), close: async () => (await leases?.close(), await client.close()) };
  const reporter = new Reporter({ store: new ReportStore(ctx.state), state: ctx.state, client: shared, url, hostname: hostname(), version: VERSION });
  const relay = o.desk ? new ApprovalRelay({ client, desk: o.desk, logger: ctx.logger }) : null;
  let secrets: PanelSecrets | null = null;
  // The vault's outcome does not matter here: without the secret, the reporter says so itself.
  const after = Promise.resolve(o.after).catch(() => undefined);
  void after.then(() => {
    reporter.start();
    leases?.start();
    relay?.start();
  });
  // By then every service has said which panel secrets it wants.
  const ready = after.then(async () => {
    const names = ctx.secrets.wanted('panel');
    if (names.length === 0) return;
    secrets = new PanelSecrets({ client, refs: ctx.secrets, names, environment: ctx.config.environment, logger: ctx.logger });
    await secrets.load();
    secrets.start();
  });
  return {
    name: 'report',
    ready,
    announce() {
      ctx.logger.info(`Telemetry goes to the panel ${url} in the background (the agent never waits on it)`);
      const names = ctx.secrets.wanted('panel');
      if (names.length > 0) ctx.logger.info(`${names.map((n) => `panel:${n}`).join(', ')} read from the panel (in memory only; checked for rotations every ${PANEL_SECRETS_POLL_MS / 1000} s)`);
    },
    async close() {
      await (secrets as PanelSecrets | null)?.close();
      await relay?.close();
      await Promise.all([leases?.close(), reporter.close()]);
    },
  };
}
