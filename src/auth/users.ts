import type { Algorithm } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';
import { UnauthorizedError, ValidationError } from '../core/errors.js';
import { KDF_DEFAULTS, verifiablePasswordHash } from '../domain/secrets/index.js';
import type { UserRole, UsersStore, UserView } from '../state/index.js';
import type { TokenService } from './tokens.js';

export const USER_ROLES = ['admin', 'viewer'] as const;
export const PASSWORD_MIN = 12;
/** Argon2 hashes whatever it is given; a megabyte password is a cheap way to burn CPU. */
export const PASSWORD_MAX = 1024;
/** Twelve spaces, or `aaaaaaaaaaaa`, are twelve characters and no password. */
export const PASSWORD_MIN_DISTINCT = 5;
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

// `const enum` in the binding's typings: esbuild cannot inline it across packages.
const ARGON2ID = 2 as Algorithm;
/** The vault's Argon2id parameters (OWASP's minimum): one set of numbers for both. */
const PASSWORD_HASH = { algorithm: ARGON2ID, memoryCost: KDF_DEFAULTS.m, timeCost: KDF_DEFAULTS.t, parallelism: KDF_DEFAULTS.p };

/** What login and the user routes need of where named users are kept (the runtime's SQLite or the panel's PostgreSQL). */
export type UsersRepo = Pick<UsersStore, 'add' | 'remove' | 'liveByName' | 'byId' | 'list'>;

/** The native Argon2 binding, loaded by the first hash: a process that checks no password never holds it. */
const argon2 = () => import('@node-rs/argon2');

/** An Argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`); the only form a password is kept in. */
export async function hashPassword(password: string): Promise<string> {
  return (await argon2()).hash(password, PASSWORD_HASH);
}

export function checkUserName(name: string): string {
  if (!USER_NAME.test(name)) throw new ValidationError('name: 1-64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit');
  return name;
}

export function checkPassword(password: string): string {
  if (password.length < PASSWORD_MIN) throw new ValidationError(`password: at least ${PASSWORD_MIN} characters`);
  if (password.length > PASSWORD_MAX) throw new ValidationError(`password: at most ${PASSWORD_MAX} characters`);
  // NULs and other control characters are invisible when typed and cut short by some tools.
  if (/\p{Cc}/u.test(password)) throw new ValidationError('password: no control characters (NUL, tab, new line, …)');
  if (new Set(password).size < PASSWORD_MIN_DISTINCT) throw new ValidationError(`password: at least ${PASSWORD_MIN_DISTINCT} different characters`);
  return password;
}

/** Validate, hash and store a new user. */
export async function addUser(store: Pick<UsersRepo, 'add'>, o: { name: string; role: string; password: string }): Promise<UserView> {
  const name = checkUserName(o.name);
  if (!(USER_ROLES as readonly string[]).includes(o.role)) throw new ValidationError(`role: must be ${USER_ROLES.join(' or ')}`);
  checkPassword(o.password);
  return store.add({ id: `user_${randomBytes(6).toString('hex')}`, name, role: o.role, passwordHash: await hashPassword(o.password) });
}

/**
 * A password check that costs the same whether or not the user exists: an unknown name is
 * checked against a hash of a random password, so neither the answer nor its timing tells
 * which of the two was wrong.
 */
export class PasswordCheck {
  private dummy: Promise<string> | null = null;

  constructor(private readonly store: Pick<UsersRepo, 'liveByName'>) {}

  /**
   * The live user when name and password match; null otherwise; `untrusted` when the user's
   * stored hash asks for more than iron-cage ever hashes with (a tampered row: m = 4 GiB would
   * make one login take gigabytes and minutes), which is never verified.
   */
  async check(name: string, password: string): Promise<UserView | null | 'untrusted'> {
    const row = USER_NAME.test(name) ? await this.store.liveByName(name) : null;
    const untrusted = row !== null && !verifiablePasswordHash(row.passwordHash);
    // The dummy stands in for an unknown name and a refused hash alike: the same time either way.
    const phc = row && !untrusted ? row.passwordHash : await (this.dummy ??= hashPassword(randomBytes(18).toString('base64')));
    let ok = false;
    try {
      ok = await (await argon2()).verify(phc, password);
    } catch {
      ok = false;
    }
    if (untrusted) return 'untrusted';
    if (!row || !ok) return null;
    const { passwordHash: _h, ...user } = row;
    return user;
  }
}

/** Let the token service check, on every verification, that a user token's user is still live. */
export function wireUsers(tokens: TokenService, store: Pick<UsersRepo, 'byId'>): void {
  tokens.resolveUser = async (id) => {
    const u = await store.byId(id);
    return u && u.removedAt === null ? { name: u.name, role: u.role as UserRole } : null;
  };
}

/** The one message for a wrong name and a wrong password alike. */
export const BAD_CREDENTIALS = (): UnauthorizedError => new UnauthorizedError('wrong name or password');
