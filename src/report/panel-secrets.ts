import { ConfigError, UnavailableError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { SecretRefsLike } from '../server/index.js';
import type { PanelClient, SecretsAnswer } from './client.js';

/** How often a runtime asks the panel whether its secrets changed (one request; 304 when not). */
export const PANEL_SECRETS_POLL_MS = 2_000;
/** How often a secret the panel stopped giving (deleted, out of scope) is asked for again. */
const DROPPED_RETRY_MS = 30_000;

export interface PanelSecretsOptions {
  client: Pick<PanelClient, 'secrets' | 'url'>;
  refs: Pick<SecretRefsLike, 'set'>;
  /** The names the config refers to as `panel:NAME`. */
  names: string[];
  /** The run's environment (`--env`): the panel's secrets of that environment. */
  environment: string;
  logger: Logger;
  pollMs?: number;
}

/** A refusal as a log line says it: `HTTP 403: not in the scope…`. */
function refusedWhy(a: Exclude<SecretsAnswer, { kind: 'ok' | 'retry' }>): string {
  if (a.kind === 'not_modified') return 'HTTP 304 to a read without an ETag';
  if (a.kind === 'out_of_order') return 'HTTP 409';
  if (a.kind === 'too_large') return `HTTP 413: ${a.reason}`;
  return a.status === 0 ? a.reason : `HTTP ${a.status}: ${a.reason}`;
}

const listed = (names: readonly string[]) => names.map((n) => `panel:${n}`).join(', ');

/**
 * The values of the config's `panel:NAME` references: read from the control panel at start (the
 * runtime does not start without them), held in memory only (SecretRefs; never the state file,
 * never a log line), and kept current by one cheap request every 2 s (`If-None-Match`: 304 while
 * nothing changed). A rotation on the panel is swapped in for the next upstream call, as a
 * rotation in the local vault is. A panel that stops answering leaves the last values in place
 * (said once, and once when it is back); a secret it stops giving (deleted, or taken out of this
 * runtime's scope) is dropped, so calls that need it fail, and asked for again every 30 s.
 */
export class PanelSecrets {
  private readonly versions = new Map<string, string>();
  private etag: string | null = null;
  /** Names the panel stopped giving, and when each was last asked for. */
  private readonly dropped = new Map<string, number>();
  private down: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly abort = new AbortController();
  private inFlight: Promise<void> | null = null;

  constructor(private readonly o: PanelSecretsOptions) {}

  /**
   * The first read, before the runtime serves: every reference or an error naming them. An
   * unreachable panel is an Error (exit 1); a refusal (scope, no such secret, bad token) a
   * ConfigError (exit 2).
   */
  async load(): Promise<void> {
    const a = await this.o.client.secrets(this.o.names, this.o.environment, null, this.abort.signal);
    const refs = listed(this.o.names);
    if (a.kind === 'ok') return this.apply(a.value, false);
    if (a.kind === 'retry')
      throw new UnavailableError(`${refs}: the control panel ${this.o.client.url} is unreachable (${a.reason}); a runtime whose config refers to panel secrets does not start without them`, 2);
    const why = refusedWhy(a);
    throw new ConfigError(`${refs}: the control panel ${this.o.client.url} refused them (${why})`);
  }

  /** Poll from now on, every `pollMs`. */
  start(): void {
    const tick = () => {
      this.inFlight = this.poll().finally(() => {
        this.inFlight = null;
        if (!this.abort.signal.aborted) this.timer = setTimeout(tick, this.o.pollMs ?? PANEL_SECRETS_POLL_MS);
      });
    };
    this.timer = setTimeout(tick, this.o.pollMs ?? PANEL_SECRETS_POLL_MS);
  }

  async close(): Promise<void> {
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
  }

  /** One round: the names still given, with the ETag; then any dropped name due for another try. */
  private async poll(): Promise<void> {
    const live = this.o.names.filter((n) => !this.dropped.has(n));
    if (live.length > 0) {
      const a = await this.o.client.secrets(live, this.o.environment, this.etag, this.abort.signal);
      if (this.abort.signal.aborted) return;
      if (a.kind === 'retry') return this.unreachable(a.reason);
      this.reachable();
      if (a.kind === 'ok') this.apply(a.value, true);
      else if (a.kind !== 'not_modified') await this.sortOut(live);
    }
    const now = Date.now();
    for (const [name, at] of this.dropped) {
      if (now - at < DROPPED_RETRY_MS || this.abort.signal.aborted) continue;
      this.dropped.set(name, now);
      const a = await this.o.client.secrets([name], this.o.environment, null, this.abort.signal);
      if (a.kind !== 'ok') continue;
      this.dropped.delete(name);
      this.etag = null;
      this.o.logger.info(`panel:${name} is available from the control panel again`);
      this.apply({ etag: null, secrets: a.value.secrets }, true);
    }
  }

  /** The panel refused the whole read: ask for each name alone to learn which it no longer gives, and drop those. */
  private async sortOut(names: string[]): Promise<void> {
    for (const name of names) {
      const a = await this.o.client.secrets([name], this.o.environment, null, this.abort.signal);
      if (this.abort.signal.aborted || a.kind === 'retry') return;
      if (a.kind === 'ok') {
        this.apply({ etag: null, secrets: a.value.secrets }, true);
        continue;
      }
      if (a.kind === 'not_modified') continue;
      this.dropped.set(name, Date.now());
      this.versions.delete(name);
      this.o.refs.set({ source: 'panel', name }, null);
      this.o.logger.warn(`panel:${name} is no longer given by the control panel (${refusedWhy(a)}): calls that need it fail until an admin restores it`);
    }
    // The next round asks for the rest afresh.
    this.etag = null;
  }

  private apply(v: Extract<SecretsAnswer, { kind: 'ok' }>['value'], running: boolean): void {
    for (const [name, s] of Object.entries(v.secrets)) {
      const before = this.versions.get(name);
      if (before === s.version) continue;
      this.versions.set(name, s.version);
      this.o.refs.set({ source: 'panel', name }, s.value);
      if (running && before !== undefined) this.o.logger.info(`panel:${name} was rotated on the control panel: calls from now on use the new value`);
    }
    this.etag = v.etag;
  }

  private unreachable(reason: string): void {
    if (this.down !== null) return;
    this.down = reason;
    this.o.logger.warn(`The control panel ${this.o.client.url} is unreachable (${reason}): ${listed(this.o.names)} keep their last values until it answers`);
  }

  private reachable(): void {
    if (this.down === null) return;
    this.down = null;
    this.o.logger.info(`The control panel ${this.o.client.url} answers again: panel secrets are kept current`);
  }
}
