import { UnavailableError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

// PostgreSQL going away under a running panel: every request that needs it answers 503 with
// Retry-After (nothing half-written: a batch is taken in one transaction or not at all), the log
// says so once when the outage starts and once when the database is back, and the process lives on.

/** Seconds a client is told to wait while the database is away. */
export const OUTAGE_RETRY_AFTER_S = 2;

/** node-postgres' ways of saying the server cannot be reached or went away (not a refused query). */
export function isConnectionError(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown; cause?: unknown } | null;
  if (!err || typeof err !== 'object') return false;
  const code = typeof err.code === 'string' ? err.code : '';
  // SQLSTATE class 08 (connection exception), 57P01-03 (admin shutdown, crash shutdown, cannot connect now); errno codes of the socket.
  if (/^08|^57P0[1-3]$|^E[A-Z]+$/.test(code)) return true;
  const message = typeof err.message === 'string' ? err.message : '';
  if (/Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (shutting down|starting up)|Client was closed/.test(message))
    return true;
  return err.cause !== undefined && err.cause !== e && isConnectionError(err.cause);
}

/**
 * Watches the database's availability from the calls that use it.
 *
 * @example
 *   const rows = await outage.run(() => store.list());   // 503 UnavailableError while it is away
 */
export class Outage {
  private since: number | null = null;
  /** When a call that used the database last succeeded (epoch ms; 0: none yet). */
  okAt = 0;

  constructor(
    private readonly logger: Logger,
    private readonly where: string,
  ) {}

  get down(): boolean {
    return this.since !== null;
  }

  /** Run a database call: a connection failure becomes a 503 (logged once per outage); a success after one says it is back. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    let out: T;
    try {
      out = await fn();
    } catch (e) {
      if (!isConnectionError(e)) throw e;
      this.failed(e);
      throw new UnavailableError(`the panel's database (${this.where}) is unreachable: try again shortly; nothing of this request was stored`, OUTAGE_RETRY_AFTER_S);
    }
    this.ok();
    return out;
  }

  /** A connection failure heard elsewhere (the pool's idle clients). */
  failed(e: unknown): void {
    if (this.since !== null) return;
    this.since = Date.now();
    this.logger.error(`PostgreSQL at ${this.where} is unreachable (${(e as Error).message}): requests answer 503 until it is back`);
  }

  private ok(): void {
    this.okAt = Date.now();
    if (this.since === null) return;
    const s = ((Date.now() - this.since) / 1000).toFixed(1);
    this.since = null;
    this.logger.info(`PostgreSQL at ${this.where} is back after ${s} s`);
  }
}
