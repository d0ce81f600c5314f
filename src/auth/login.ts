import { TooManyAttemptsError } from '../core/errors.js';
import type { NewEvent } from '../core/events.js';
import type { UserRole } from '../state/index.js';
import { LoginLimiter } from './login-limiter.js';
import type { TokenService } from './tokens.js';
import { BAD_CREDENTIALS, PasswordCheck, type UsersRepo } from './users.js';

export interface LoginResult {
  token: string;
  role: UserRole;
  name: string;
  expiresAt: string;
}

/**
 * Failed logins counted per key over a window (the name typed, the client's address). A runtime
 * counts in memory (`LoginLimiter`); a panel in PostgreSQL, so its replicas count as one.
 */
export interface FailureCounter {
  /** Milliseconds until `key` may try again; 0 when it may now. */
  blockedFor(key: string): number | Promise<number>;
  /** True the first time a blocked key is refused in its window (a refusal is recorded once, not per attempt). */
  firstRefusal(key: string): boolean | Promise<boolean>;
  /**
   * One more failure for `key`; what it counts in its window with this one, said by the step that
   * counts it (PostgreSQL: the upsert's RETURNING). Several tries at once, on
   * several replicas, each read "not blocked" before any counted: this number is the arbiter.
   */
  fail(key: string): number | Promise<number>;
  forgive(key: string): void | Promise<void>;
  reset(key: string): void | Promise<void>;
}

export interface LoginDeps {
  users: Pick<UsersRepo, 'liveByName'>;
  /** What a successful login gets: a user JWT (the runtime) or an opaque, revocable session (the panel). */
  tokens: Pick<TokenService, 'issue'>;
  /** Where `auth.login` and `auth.login_failed` go: the runtime's event log, the panel's log. */
  state: { record(e: NewEvent): unknown };
  ttlMinutes: number;
  /** Where failures are counted, per name and per address (default: in this process's memory). */
  limits?: (o: { kind: 'name' | 'address'; maxFailures: number; windowMs: number }) => FailureCounter;
}

/** How long a failure counts against its name and address. */
export const LOGIN_WINDOW_MS = 15 * 60_000;
/** Per name: a password guesser gets this many tries per window. */
export const NAME_FAILURES = 5;
/** Per address: more, since one address may be several people (a NAT, a proxy). */
export const ADDRESS_FAILURES = 20;
/** Password checks (Argon2id, 19 MiB each) running at once; more are refused, not queued. */
const MAX_CHECKS_IN_FLIGHT = 4;

/**
 * Name and password → a short-lived user JWT. Failed logins are limited per name and per
 * client address; a refused attempt is refused before any password is checked.
 *
 * @example
 *   const r = await login.login('ann', 'correct horse battery', '127.0.0.1');
 */
export class LoginService {
  private readonly check: PasswordCheck;
  readonly byName: FailureCounter;
  readonly byAddress: FailureCounter;
  private checksInFlight = 0;

  constructor(private readonly d: LoginDeps) {
    this.check = new PasswordCheck(d.users);
    const limits = d.limits ?? ((o) => new LoginLimiter(o));
    this.byName = limits({ kind: 'name', maxFailures: NAME_FAILURES, windowMs: LOGIN_WINDOW_MS });
    this.byAddress = limits({ kind: 'address', maxFailures: ADDRESS_FAILURES, windowMs: LOGIN_WINDOW_MS });
  }

  async login(name: string, password: string, address: string): Promise<LoginResult> {
    const nameKey = name.toLowerCase();
    // The name is whatever was typed: no control characters reach a log line.
    const shown = name.replace(/[\u0000-\u001f\u007f]/g, '?');
    const wait = Math.max(await this.byName.blockedFor(nameKey), await this.byAddress.blockedFor(address));
    if (wait > 0) {
      // Recorded once per name and address per window: a flood of refusals is not a flood of rows.
      const first = [await this.byName.firstRefusal(nameKey), await this.byAddress.firstRefusal(address)].some(Boolean);
      if (first) this.failed((await this.d.users.liveByName(name)) ? shown : '(unknown user)', address, 'too_many_attempts');
      throw new TooManyAttemptsError(Math.ceil(wait / 1000));
    }
    // A flood of guesses must not fill the thread pool the vault and the file system share.
    if (this.checksInFlight >= MAX_CHECKS_IN_FLIGHT) throw new TooManyAttemptsError(1);
    // Counted as a failure before the (slow) check, so parallel guesses cannot all get past the
    // limit while the first ones are still being checked; a success takes it back.
    this.checksInFlight++;
    let over: boolean;
    try {
      const byName = await this.byName.fail(nameKey);
      const byAddress = await this.byAddress.fail(address);
      over = byName > NAME_FAILURES || byAddress > ADDRESS_FAILURES;
    } catch (e) {
      this.checksInFlight--;
      throw e;
    }
    if (over) {
      // Others got in first (their tries read the count with this one, before any was counted): refused
      // as a blocked try is, before any check, and not counted (as a blocked try is not).
      this.checksInFlight--;
      await this.byName.forgive(nameKey);
      await this.byAddress.forgive(address);
      const left = Math.max(await this.byName.blockedFor(nameKey), await this.byAddress.blockedFor(address));
      throw new TooManyAttemptsError(Math.max(1, Math.ceil(left / 1000)));
    }
    let user: Awaited<ReturnType<PasswordCheck['check']>>;
    try {
      user = await this.check.check(name, password);
    } finally {
      this.checksInFlight--;
    }
    if (!user || user === 'untrusted') {
      // A name that is no user may be a password typed into the wrong field: not recorded.
      this.failed((await this.d.users.liveByName(name)) ? shown : '(unknown user)', address, user === 'untrusted' ? 'untrusted_hash' : 'bad_credentials');
      throw BAD_CREDENTIALS();
    }
    await this.byName.reset(nameKey);
    await this.byAddress.forgive(address);
    const role = user.role as UserRole;
    const ttlSeconds = this.d.ttlMinutes * 60;
    const token = await this.d.tokens.issue({ role, name: user.name, userId: user.id, ttlSeconds });
    this.d.state.record({
      agentId: null,
      type: 'auth.login',
      severity: 'info',
      message: `${user.name} logged in (${role}) from ${address}`,
      data: { userId: user.id, name: user.name, role, address },
    });
    return { token, role, name: user.name, expiresAt: new Date(Date.now() + ttlSeconds * 1000).toISOString() };
  }

  private failed(name: string, address: string, reason: 'bad_credentials' | 'too_many_attempts' | 'untrusted_hash'): void {
    const why =
      reason === 'bad_credentials'
        ? 'Failed login'
        : reason === 'too_many_attempts'
          ? 'Login refused (too many failures)'
          : 'Login refused: the stored password hash asks for a cost iron-cage never hashes with (an edited row?); remove the user and add them again';
    this.d.state.record({ agentId: null, type: 'auth.login_failed', severity: 'warn', message: `${why} for '${name}' from ${address}`, data: { name, address, reason } });
  }
}
