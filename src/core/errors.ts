// Typed errors. Each carries a stable machine code and the HTTP status it maps to;
// server/errors.ts turns them into `{"error":{"code","message"}}` in one place.
export class IronCageError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

// One line each: a code and a status are the whole of what tells them apart.
export class ValidationError extends IronCageError {
  constructor(message: string, code = 'invalid_request') {
    super(code, 400, message);
  }
}
export class UnauthorizedError extends IronCageError {
  constructor(message = 'a valid token is required') {
    super('unauthorized', 401, message);
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
export class ConflictError extends IronCageError {
  constructor(message: string) {
    super('conflict', 409, message);
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
  constructor(message = 'the secrets vault is locked: start iron-cage with IRON_CAGE_MASTER_KEY set') {
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

/** Too many failed logins for a name or from an address: try again after `retryAfterSeconds` (sent as Retry-After). */
export class TooManyAttemptsError extends IronCageError {
  constructor(readonly retryAfterSeconds: number) {
    super('too_many_attempts', 429, `too many failed logins: try again in ${retryAfterSeconds} s`);
  }
}
