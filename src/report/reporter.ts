import type { NewEvent } from '../core/events.js';
import { backoffDelayMs } from '../domain/reliability/index.js';
import {
  breakerVersion,
  TELEMETRY_MAX_BYTES,
  TELEMETRY_MAX_ROWS,
  type ReportStore,
  type StateManager,
  type TelemetryBatchInput as Batch,
  type TelemetryCursor,
  type TelemetryHello,
} from '../state/index.js';
import type { PanelAnswer, PanelClient } from './client.js';

export interface ReporterOptions {
  store: Pick<ReportStore, 'after' | 'behind' | 'breakersChanged' | 'keys'>;
  state: Pick<StateManager, 'subscribe' | 'record'>;
  client: Pick<PanelClient, 'hello' | 'send' | 'close'>;
  /** The panel's URL as the operator wrote it, for the messages. */
  url: string;
  hostname?: string;
  version?: string;
  /** Rows of each kind per batch: one read stays a few ms of the event loop. */
  batchRows?: number;
  /** How long to wait for more rows before sending what has come (at most one batch in flight). */
  lingerMs?: number;
  /**
   * While rows keep coming, the least time between two batches' sends: a runtime making calls
   * every moment sends a batch a second with all of them, not a batch a call (a panel's cost is
   * per batch: it is what lets one panel carry a thousand runtimes). A batch of `batchRows` rows
   * goes at once.
   */
  intervalMs?: number;
  /** Tool calls are written without an event: looked for this often when nothing else wakes the reporter. */
  pollMs?: number;
  /**
   * With nothing to send for this long, a hello tells the panel this runtime is alive (the fleet
   * shows a runtime online while it reported within the last minute).
   */
  heartbeatMs?: number;
  /** Back-off of a panel that is unreachable or failing: doubling from base to max, full jitter. */
  backoff?: { baseMs: number; maxMs: number };
  /** How often a refused token (or batch) is tried again: an admin may fix it. */
  slowMs?: number;
  /** The last attempt at shutdown is bounded by this. */
  flushMs?: number;
  random?: () => number;
  now?: () => number;
}

/** A batch built and not yet taken: sent again as it is (same seq, same bytes) until the panel answers. */
interface Outgoing {
  seq: number;
  body: string;
  next: TelemetryCursor;
  breakers: Array<[service: string, version: string]>;
  rows: number;
  more: boolean;
  /** Built while the panel was failing: rows written since wait behind it, so its ack is not "caught up". */
  stale: boolean;
}

const ZERO: TelemetryCursor = { eventSeq: 0, llmRequestId: 0, toolCallId: 0 };
/** A Retry-After longer than this is read as this: the panel will be asked again by then. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * Sends the runtime's ledger to its control panel, in order, off the request path: it learns
 * where the panel stands (hello), then sends the rows after that cursor in bounded batches
 * numbered lastSeq + 1, one at a time. A batch that got no answer is sent again as it is, after
 * a jittered back-off; a 409 means ask again where the panel stands. Nothing here is awaited by
 * the gateway or the tool proxy: the rows are on disk already, so the panel being away only
 * means they wait there. It says once when it falls behind and once when it has caught up.
 *
 * @example
 *   const r = new Reporter({ store: new ReportStore(state), state, client, url: 'https://panel:8443' });
 *   r.start();
 *   // … at shutdown:
 *   await r.close();
 */
export class Reporter {
  private readonly o: Required<Omit<ReporterOptions, 'hostname' | 'version'>> & Pick<ReporterOptions, 'hostname' | 'version'>;
  private runtime: string | null = null;
  private cursor: TelemetryCursor = ZERO;
  private lastSeq = 0;
  private known = false;
  private readonly sentBreakers = new Map<string, string>();
  private limit: number;
  private batch: Outgoing | null = null;
  private running: Promise<void> | null = null;
  private closing = false;
  private readonly abort = new AbortController();
  /** New rows since the last read (an event was written). */
  private dirty = false;
  private wake: { done: () => void; onRows: boolean } | null = null;
  private unsubscribe: (() => void) | null = null;
  /** Since when the panel has not been taking rows, and how many it took since (null: not behind). */
  private behind: { since: number; sent: number } | null = null;
  /** The refusal already said (status and reason), so it is said once until something changes. */
  private said: string | null = null;
  /** The last exchange with the panel failed. */
  private failing = false;
  /** When the panel last answered a hello or took a batch (the heartbeat counts from it). */
  private lastContact = 0;

  constructor(o: ReporterOptions) {
    this.o = {
      batchRows: 1_000,
      lingerMs: 200,
      intervalMs: 1_000,
      pollMs: 1_000,
      heartbeatMs: 20_000,
      backoff: { baseMs: 500, maxMs: 30_000 },
      slowMs: 60_000,
      flushMs: 2_000,
      random: Math.random,
      now: Date.now,
      ...o,
    };
    this.limit = this.o.batchRows;
  }

  /** Begin reporting; the agent does not wait for any of it. */
  start(): void {
    if (this.running || this.closing) return;
    // The one thing done on the write path: note that rows came, and wake the loop if it waits for them.
    this.unsubscribe = this.o.state.subscribe(() => {
      this.dirty = true;
      if (this.wake?.onRows) this.wake.done();
    });
    this.running = this.run().catch((err: unknown) => {
      // A bug here must not touch the agent: reporting stops, said once.
      if (!this.closing)
        this.say({
          agentId: null,
          type: 'panel.behind',
          severity: 'error',
          message: `reporting to the panel ${this.o.url} stopped: ${String(err)}`,
          data: { url: this.o.url, reason: String(err), waiting: null },
        });
    });
  }

  /** One last bounded attempt to send what is left (whatever is not sent goes at the next start), then stop. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const deadline = setTimeout(() => this.abort.abort(), this.o.flushMs);
    this.wake?.done();
    await this.running;
    clearTimeout(deadline);
    this.unsubscribe?.();
    await this.o.client.close();
  }

  private async run(): Promise<void> {
    let failures = 0;
    for (;;) {
      if (this.abort.signal.aborted) return;
      if (!this.known) {
        const a = await this.o.client.hello(this.abort.signal);
        if (a.kind === 'ok' && this.foreign(a.value)) {
          if (this.closing) return;
          await this.pause(this.o.slowMs, false);
          continue;
        }
        if (a.kind === 'ok') {
          this.failing = false;
          this.adopt(a.value);
          continue;
        }
        if (this.closing) return;
        await this.pause(this.failed(a, ++failures), false);
        continue;
      }
      if (this.batch === null) {
        this.dirty = false;
        this.batch = this.build();
        if (this.batch === null) {
          if (this.closing) return;
          if (this.o.now() - this.lastContact >= this.o.heartbeatMs) {
            // Idle for a while: a hello, which is the panel's "last seen" of this runtime.
            const h = await this.o.client.hello(this.abort.signal);
            if (h.kind === 'ok') {
              this.failing = false;
              if (h.value.lastSeq === this.lastSeq) this.lastContact = this.o.now();
              else this.known = false; // the panel went back (restored from a backup): resume from where it stands
              continue;
            }
            if (this.closing) return;
            await this.pause(this.failed(h, ++failures), false);
            continue;
          }
          await this.pause(this.o.pollMs, true);
          await this.pause(this.o.lingerMs, false);
          continue;
        }
      }
      const sent = this.batch;
      const sentAt = this.o.now();
      const a = await this.o.client.send(sent.body, this.abort.signal);
      if (a.kind === 'ok') {
        // A duplicate is a batch the panel had already taken (its answer was lost): done all the same.
        failures = 0;
        this.failing = false;
        this.acked(sent);
        // A busy panel may ask for a slower pace (its cost is per batch): the rows wait on disk, and go together.
        if (!sent.more) await this.pause(Math.max(this.o.lingerMs, this.o.intervalMs - (this.o.now() - sentAt), a.value.paceMs ?? 0), false);
        continue;
      }
      if (a.kind === 'out_of_order') {
        // Ask where the panel stands and build from there; back off only if it keeps happening.
        this.known = false;
        this.batch = null;
        if (++failures > 1 && !this.closing) await this.pause(this.delay(failures - 1), false);
        continue;
      }
      if (a.kind === 'too_large' && this.limit > 1) {
        this.limit = Math.max(1, Math.floor(this.limit / 2));
        this.batch = null;
        continue;
      }
      if (this.closing) return;
      await this.pause(this.failed(a, ++failures), false);
    }
  }

  /**
   * The panel holds rows of this runtime beyond any this state file ever wrote: the file is new or
   * was reset (a container without its volume, a copied token). Sending would hand the panel keys
   * it already has, taken as duplicates, so the new rows would be lost: nothing is sent, it is said
   * once, and the hello is tried again slowly (an admin removes and adds the runtime again).
   */
  private foreign(h: TelemetryHello): boolean {
    const mine = this.o.store.keys();
    const ahead = h.cursor.eventSeq > mine.eventSeq || h.cursor.llmRequestId > mine.llmRequestId;
    if (!ahead) return false;
    const said = `foreign:${h.cursor.eventSeq}:${h.cursor.llmRequestId}`;
    if (this.said !== said) {
      this.said = said;
      this.say({
        agentId: null,
        type: 'panel.refused',
        severity: 'error',
        message: `panel ${this.o.url} holds runtime ${h.runtime}'s rows up to event ${h.cursor.eventSeq} and call ${h.cursor.llmRequestId}, but this state file has only ${mine.eventSeq} and ${mine.llmRequestId}: a new or reset state file reports as a runtime that already reported. Nothing is sent (the panel would take the new rows for ones it has); an admin adds a new runtime, or removes and adds this one again. Trying again every ${Math.round(this.o.slowMs / 1000)} s`,
        data: { url: this.o.url, status: 409, reason: 'the panel holds rows this state file never wrote' },
      });
    }
    return true;
  }

  private adopt(h: TelemetryHello): void {
    this.lastContact = this.o.now();
    this.runtime = h.runtime;
    this.cursor = { ...h.cursor };
    this.lastSeq = h.lastSeq;
    this.known = true;
    this.batch = null;
    // A panel that went back in time may have lost the breakers too: they are state, sent again.
    this.sentBreakers.clear();
  }

  private build(): Outgoing | null {
    for (;;) {
      const rows = this.o.store.after(this.cursor, this.limit);
      const breakers = this.o.store.breakersChanged(this.sentBreakers);
      const n = rows.events.length + rows.llmRequests.length + rows.toolCalls.length;
      if (n === 0 && breakers.length === 0) return null;
      const seq = this.lastSeq + 1;
      const batch: Batch = {
        runtime: this.runtime!,
        seq,
        sentAt: new Date(this.o.now()).toISOString(),
        behind: this.o.store.behind(rows.next),
        hostname: this.o.hostname,
        version: this.o.version,
        agents: rows.agents,
        events: rows.events,
        llmRequests: rows.llmRequests,
        toolCalls: rows.toolCalls,
        breakers,
      };
      const body = JSON.stringify(batch);
      const tooBig = n + rows.agents.length + breakers.length > TELEMETRY_MAX_ROWS || (body.length > TELEMETRY_MAX_BYTES / 3 && Buffer.byteLength(body) > TELEMETRY_MAX_BYTES);
      if (tooBig && this.limit > 1) {
        this.limit = Math.max(1, Math.floor(this.limit / 2));
        continue;
      }
      return { seq, body, next: rows.next, breakers: breakers.map((b) => [b.service, breakerVersion(b)]), rows: n + breakers.length, more: rows.more, stale: this.failing };
    }
  }

  private acked(b: Outgoing): void {
    this.lastContact = this.o.now();
    // A batch halved for one large row grows back, so one big event does not slow the rest for good.
    this.limit = Math.min(this.o.batchRows, this.limit * 2);
    this.cursor = b.next;
    this.lastSeq = b.seq;
    for (const [service, at] of b.breakers) this.sentBreakers.set(service, at);
    this.batch = null;
    this.said = null;
    if (this.behind === null) return;
    this.behind.sent += b.rows;
    if (b.more || b.stale) return;
    const afterMs = this.o.now() - this.behind.since;
    const sent = this.behind.sent;
    this.behind = null;
    this.say({
      agentId: null,
      type: 'panel.caught_up',
      severity: 'info',
      message: `caught up with the panel ${this.o.url}: ${sent} row${sent === 1 ? '' : 's'} sent after ${Math.round(afterMs / 1000)} s`,
      data: { url: this.o.url, sent, afterMs },
    });
  }

  /** What a failure means to the operator, said once per episode; how long to wait before trying again. */
  private failed(answer: Exclude<PanelAnswer<unknown>, { kind: 'ok' }>, failures: number): number {
    // A 409 to a hello (a batch's own 409 is handled before): the panel is not ready for us yet, try again.
    const a = answer.kind === 'out_of_order' ? ({ kind: 'retry', reason: 'HTTP 409', retryAfterMs: null } as const) : answer;
    const waiting = this.known ? this.o.store.behind(this.cursor) : null;
    const rows = waiting === null ? 'its rows wait on disk' : `${waiting} row${waiting === 1 ? '' : 's'} waiting on disk`;
    this.failing = true;
    // The batch waiting to go again was read before the failure: what came since is behind it.
    if (this.batch) this.batch.stale = true;
    const firstTime = this.behind === null;
    if (firstTime) this.behind = { since: this.o.now(), sent: 0 };
    if (a.kind === 'retry') {
      if (firstTime) {
        const what = a.reason.startsWith('HTTP ') ? `unavailable (${a.reason})` : `unreachable (${a.reason})`;
        this.say({ agentId: null, type: 'panel.behind', severity: 'warn', message: `panel ${this.o.url} ${what}: ${rows}; the agent runs on`, data: { url: this.o.url, reason: a.reason, waiting } });
      }
      return a.retryAfterMs !== null ? Math.min(a.retryAfterMs, MAX_RETRY_AFTER_MS) : this.delay(failures);
    }
    const status = a.kind === 'refused' || a.kind === 'rejected' ? a.status : 413;
    const key = `${status} ${a.reason}`;
    if (this.said !== key) {
      this.said = key;
      const every = `${Math.round(this.o.slowMs / 1000)} s`;
      const message =
        status === 401
          ? `panel ${this.o.url} refused the runtime token (HTTP 401${a.reason ? `: ${a.reason}` : ''}): it is revoked, mistyped or from another panel; set --panel-token (IRON_CAGE_PANEL_TOKEN) to a runtime token an admin created there. ${rows}; trying again every ${every}`
          : status === 403
            ? `panel ${this.o.url} refused this runtime's telemetry (HTTP 403${a.reason ? `: ${a.reason}` : ''}): the token is for another runtime or may not send telemetry; ${rows}; trying again every ${every}`
            : status === 0
              ? `panel ${this.o.url}: ${a.reason}; ${rows}; trying again every ${every}`
              : a.kind === 'rejected' && a.code === 'budget_not_covered'
                ? // This runtime tags a call only with the budget windows a lease answer named, which the panel records before it answers.
                  `panel ${this.o.url} refused a batch (HTTP ${status}: ${a.reason}): a call in it is charged to a central budget the panel says it never leased to this runtime for that agent. This runtime charges a call only to budgets its lease answers named, so its state file was changed, or the panel lost its lease records (restored from a backup?); nothing of the batch was stored, ${rows}; trying again every ${every}`
                : `panel ${this.o.url} refused a batch (HTTP ${status}${a.reason ? `: ${a.reason}` : ''}): is it another version of iron-cage? ${rows}; trying again every ${every}`;
      this.say({ agentId: null, type: 'panel.refused', severity: 'error', message, data: { url: this.o.url, status, reason: a.reason } });
    }
    return this.o.slowMs;
  }

  private delay(failures: number): number {
    return Math.max(100, backoffDelayMs(failures, this.o.backoff.baseMs, this.o.backoff.maxMs, this.o.random));
  }

  /** Recorded as an event: the terminal, the log and the dashboard say it; the panel gets it too, later. */
  private say(e: NewEvent<'panel.behind' | 'panel.caught_up' | 'panel.refused'>): void {
    if (!this.closing) this.o.state.record(e);
  }

  /** Wait `ms`, or less: on close, and (`onRows`) when rows are written. */
  private pause(ms: number, onRows: boolean): Promise<void> {
    if (this.closing || (onRows && this.dirty)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(), ms);
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      this.wake = { done, onRows };
    });
  }
}
