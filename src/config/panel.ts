import * as z from 'zod';
import { ConfigError } from '../core/errors.js';
import { readNamedFile } from './named-file.js';
import { configRef, SECRET_TEMPLATE_RE } from '../domain/secrets/index.js';
import { layer, type Keys } from './layer.js';
import { isLoopbackHost } from './tools.js';

// The `panel:` section: the control panel this runtime reports its telemetry to (src/report).
// Off unless `panel.url` is set; the token may be a vault reference (`secret:NAME`), like a
// provider's api_key.

/** An http(s) origin, optionally with a path prefix: no credentials, query or fragment (the token goes in a header). */
const panelUrl = z
  .string()
  .min(1, 'must not be empty')
  .regex(/^https?:\/\/[^\s/?#@]+(\/[^\s?#]*)?$/, 'must be an https:// URL like https://panel.example:8443');

const section = z.strictObject({
  url: panelUrl.optional(),
  token: z.string().min(1, 'must not be empty').optional(),
  ca: z.string().min(1, 'must not be empty').optional(),
});

export const panelFileSchema = { panel: section.optional() };

export interface PanelConfig {
  /** The panel's base URL (`/api/telemetry` is under it); null: no reporting. */
  url: string | null;
  /** The runtime token (`ic_rt_…`) or `secret:NAME`. */
  token: string | null;
  /** A PEM file of the CA (or the self-signed certificate) the panel's certificate is checked against, beside the system's. */
  ca: string | null;
}

export const PANEL_DEFAULTS: PanelConfig = { url: null, token: null, ca: null };

const PANEL_KEYS: Keys<PanelConfig, z.output<typeof section>> = { url: 'url', token: 'token', ca: 'ca' };

export const applyPanel = (cur: PanelConfig, l: { panel?: z.output<typeof section> }): PanelConfig => layer(cur, l.panel, PANEL_KEYS);

/**
 * The names of the control panel's secrets a config refers to: `panel:NAME` as a provider's
 * api_key, `${panel:NAME}` in a tool's header.
 */
type RefsIn = { panel: PanelConfig; gateway: { providers: Record<'openai' | 'anthropic', { apiKey: string | null }> }; tools: Record<string, { headers: Record<string, string> }> };

/** `panel:` references need a panel to read them from: ConfigError (exit 2) naming them when there is none. */
export function checkPanelRefs(c: RefsIn): void {
  const refs = panelRefsOf(c);
  if (c.panel.url === null && refs.length > 0)
    throw new ConfigError(`${refs.map((n) => `panel:${n}`).join(', ')}: the config refers to a control panel's secrets but names no panel (--panel URL --panel-token ic_rt_…)`);
}

export function panelRefsOf(c: Omit<RefsIn, 'panel'>): string[] {
  const names = new Set<string>();
  for (const p of [c.gateway.providers.openai, c.gateway.providers.anthropic]) {
    const r = configRef(p.apiKey);
    if (r?.source === 'panel') names.add(r.name);
  }
  for (const t of Object.values(c.tools)) for (const v of Object.values(t.headers)) for (const m of v.matchAll(SECRET_TEMPLATE_RE)) if (m[1] === 'panel') names.add(m[2]!);
  return [...names].sort();
}

/**
 * Cross-key checks once every layer is applied: a URL needs a token (not a `panel:` one), the token never travels
 * in clear beyond this machine (a panel reached over plain http must be on loopback, e.g. an SSH
 * tunnel or a TLS-terminating proxy on this host), and the CA file is a readable PEM certificate: its text is returned.
 * `start` and `serve` check before anything starts (src/cli/start.ts); the reporting service again as it is built.
 */
export function checkPanelConfig(p: PanelConfig): string | null {
  if (p.url === null) {
    if (p.token !== null || p.ca !== null) throw new ConfigError('panel.token and panel.ca need panel.url (--panel https://panel:8443): where would the runtime report?');
    return null;
  }
  if (configRef(p.token)?.source === 'panel') throw new ConfigError(`panel.token: cannot be ${p.token} (the token is what reads the panel's secrets); give it as it is or as secret:NAME`);
  const u = new URL(p.url);
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
    throw new ConfigError(
      `panel.url ${u.origin}: plain http:// beyond this machine would send the runtime token in clear; use https:// (--panel-ca for a private CA), or reach the panel through a tunnel on loopback (http://127.0.0.1:…)`,
    );
  }
  if (p.token === null) throw new ConfigError(`panel.url ${u.origin} needs a runtime token: --panel-token (or IRON_CAGE_PANEL_TOKEN, or panel.token: secret:NAME)`);
  return p.ca === null ? null : readPanelCa(p.ca);
}

/** The PEM text of `panel.ca`, or a ConfigError (exit 2) that says what is wrong with the file. */
function readPanelCa(path: string): string {
  const pem = readNamedFile(path, `panel.ca ${path}`);
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`panel.ca ${path}: not a PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
  return pem;
}
