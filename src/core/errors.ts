// Typed errors. Each carries a stable machine code, the HTTP status it maps to and what every
// surface needs to answer it (when to retry, whether the connection survives);
// server/errors.ts turns them into one answer in one place, and each surface renders that
// answer in its own shape: REST's `{"error":{"code","message"}}`, an LLM wire's, the tool proxy's.

/**
 * What kind of refusal an error is, in the words each LLM wire has a name for (OpenAI's
 * `error.type`, Anthropic's `error.type`); REST and the tool proxy show the code instead.
 */
export type ErrorKind = 'invalid_request' | 'auth' | 'permission' | 'not_found' | 'too_large' | 'budget' | 'rate_limit' | 'upstream' | 'unavailable' | 'timeout' | 'blocked';

/**
 * The status for each kind of refusal, on every wire. A budget refusal is 402 (what both
 * providers answer an account that cannot pay): no client retries it, whereas 429 is retried
 * by the AI SDK and LangChain whatever `x-should-retry` says.
 */
export const STATUS_OF: Record<ErrorKind, number> = {
  invalid_request: 400,
  auth: 401,
  permission: 403,
  not_found: 404,
  too_large: 413,
  budget: 402,
  rate_limit: 429,
  upstream: 502,
  unavailable: 503,
  timeout: 504,
  blocked: 400,
};

/** The first kind listed for a status (400 is `invalid_request`, not `blocked`). */
const KIND_OF_STATUS = new Map(
  Object.entries(STATUS_OF)
    .reverse()
    .map(([kind, status]) => [status, kind as ErrorKind]),
);

/** What an error tells every surface beyond its code, status and message. */
export interface ErrorHints {
  /** How an LLM wire names it. Default: the kind of its status, else `invalid_request` (4xx) or `upstream` (5xx). */
  kind?: ErrorKind;
  /** Seconds to wait before trying again: `retry-after`. */
  retryAfterS?: number;
  /** false: trying again cannot help; `x-should-retry: false`, which the official SDKs obey. */
  retry?: boolean;
  /**
   * The connection cannot carry another request. Default: for a 413, whose body was left
   * unread in the socket.
   */
  close?: boolean;
  /** Headers the answer must carry whatever the surface (`allow` on a 405). */
  headers?: Readonly<Record<string, string>>;
  /** Fields REST's `error` object carries beside code and message (`expectedSeq` of an out-of-order batch). */
  fields?: Readonly<Record<string, string | number>>;
}

export class IronCageError extends Error {
  readonly code: string;
  readonly status: number;
  readonly kind: ErrorKind;
  readonly retryAfterS: number | undefined;
  readonly retry: boolean | undefined;
  readonly close: boolean;
  readonly headers: Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, string | number>>;
  constructor(code: string, status: number, message: string, hints: ErrorHints = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.kind = hints.kind ?? KIND_OF_STATUS.get(status) ?? (status >= 500 ? 'upstream' : 'invalid_request');
    this.retryAfterS = hints.retryAfterS;
    this.retry = hints.retry;
    this.close = hints.close ?? status === 413;
    this.headers = hints.headers ?? {};
    this.fields = hints.fields ?? {};
  }
}

// One line each: a code and a status are the whole of what tells them apart.
export class ValidationError extends IronCageError {
  constructor(message: string, code = 'invalid_request', hints?: ErrorHints) {
    super(code, 400, message, hints);
  }
}
export class UnauthorizedError extends IronCageError {
  /** `fields.renew`: the command that prints a new login link, where one would help (the page shows it). */
  constructor(message = 'a valid token is required', fields: Readonly<Record<string, string>> = {}) {
    super('unauthorized', 401, message, { fields });
  }
}
/** No token at all, as opposed to a bad one: each surface may say its own way to send one. */
export class MissingTokenError extends UnauthorizedError {
  constructor(message = 'a token is required: send Authorization: Bearer <token>') {
    super(message);
  }
}
export class ForbiddenError extends IronCageError {
  constructor(message: string) {
    super('forbidden', 403, message);
  }
}
export class NotFoundError extends IronCageError {
  constructor(message: string) {
    super('not_found', 404, message);
  }
}
/**
 * The request contradicts the state it acts on. Code `stale`: it named the state it expected
 * (an expected limit, a secret's last update) and that state has moved on since, so acting
 * would act twice or on something else; nothing was written.
 */
export class ConflictError extends IronCageError {
  constructor(message: string, code: 'conflict' | 'stale' = 'conflict') {
    super(code, 409, message);
  }
}

/** A telemetry batch from the future: the panel takes `expectedSeq` next (nothing was written). */
export class OutOfOrderError extends IronCageError {
  constructor(
    readonly expectedSeq: number,
    got: number,
  ) {
    super('out_of_order', 409, `batch ${got} is out of order: the panel expects batch ${expectedSeq} next`, { fields: { expectedSeq } });
  }
}

/** A service this request needs (the panel's database) cannot be reached: try again after `retryAfterS`. */
export class UnavailableError extends IronCageError {
  constructor(message: string, retryAfterS: number) {
    super('unavailable', 503, message, { retryAfterS });
  }
}

/** A body past `limit` bytes: a request the server will not read, or an upstream answer it will not hold. */
export class PayloadTooLargeError extends IronCageError {
  constructor(readonly limit: number) {
    super('payload_too_large', 413, `request body is larger than ${limit} bytes`);
  }
}

/** A configuration or command-line problem: the CLI prints the message and exits 2. */
export class ConfigError extends IronCageError {
  constructor(message: string) {
    super('invalid_config', 400, message);
  }
}

// The secrets vault. Locked: no master key was given (IRON_CAGE_MASTER_KEY). Wrong master key:
// the vault's check value does not open with the one given. Tampered: the check value opened
// but a secret's blob did not, so the row (or its salt, nonce or associated data) was changed.
export class VaultLockedError extends IronCageError {
  constructor(message = 'the secrets vault is locked: IRON_CAGE_MASTER_KEY is not set for this process') {
    super('vault_locked', 423, message);
  }
}
export class WrongMasterKeyError extends IronCageError {
  constructor(message = 'the master key does not open this vault (IRON_CAGE_MASTER_KEY differs from the one the secrets were stored with)') {
    super('wrong_master_key', 423, message);
  }
}
export class SecretTamperedError extends IronCageError {
  constructor(readonly secretName: string) {
    super('secret_tampered', 422, `secret ${secretName} failed its integrity check: its stored ciphertext, nonce, salt or identity was changed`);
  }
}

/** Too many failed logins for a name or from an address: try again after `retryAfterS`. */
export class TooManyAttemptsError extends IronCageError {
  constructor(retryAfterS: number) {
    super('too_many_attempts', 429, `too many failed logins: try again in ${retryAfterS} s`, { retryAfterS });
  }
}
