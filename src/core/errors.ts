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

export class PayloadTooLargeError extends IronCageError {
  constructor(limitBytes: number) {
    super('payload_too_large', 413, `request body is larger than ${limitBytes} bytes`);
  }
}

/** A configuration or command-line problem: the CLI prints the message and exits 2. */
export class ConfigError extends IronCageError {
  constructor(message: string) {
    super('invalid_config', 400, message);
  }
}
