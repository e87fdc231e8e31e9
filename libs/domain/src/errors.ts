/**
 * Typed domain errors. Domain and service code throws these; one filter in apps/api maps them to
 * application/problem+json. Nothing below the controller layer knows about HTTP.
 */
export interface FieldError {
  /** JSON path of the offending field, e.g. `rules[1].match` or `minPortsPerVm`. */
  field: string;
  message: string;
}

export type DomainErrorKind =
  | 'INVALID_ARGUMENT'
  | 'UNAUTHENTICATED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'IN_USE'
  | 'CONFLICT'
  | 'PRECONDITION_FAILED'
  | 'IDEMPOTENCY_MISMATCH';

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class InvalidArgumentError extends DomainError {
  constructor(message: string, errors: FieldError[] = []) {
    super('INVALID_ARGUMENT', message, errors);
  }
  static field(field: string, message: string): InvalidArgumentError {
    return new InvalidArgumentError(`${field}: ${message}`, [{ field, message }]);
  }
}

export class UnauthenticatedError extends DomainError {
  constructor(message = 'A valid bearer token is required') {
    super('UNAUTHENTICATED', message);
  }
}

export class NotFoundError extends DomainError {
  constructor(collection: string, name: string) {
    super('NOT_FOUND', `${collection} '${name}' was not found`);
  }
}

/** An attribution asked for an instant older than the history kept (docs/attribution.md). */
export class HistoryExpiredError extends DomainError {
  constructor(what: string, at: Date, keptFrom: Date, retentionDays: number) {
    super(
      'NOT_FOUND',
      `attribution history is kept for ${retentionDays} days and starts at ${keptFrom.toISOString()}: ${what} at ${at.toISOString()} is older, nobody can be named any more`,
    );
  }
}

export class AlreadyExistsError extends DomainError {
  constructor(collection: string, name: string) {
    super('ALREADY_EXISTS', `${collection} '${name}' already exists`, [{ field: 'name', message: 'already exists' }]);
  }
}

/** A resource still used by others; `users` are their relative paths. */
export class InUseError extends DomainError {
  constructor(
    what: string,
    readonly users: string[],
  ) {
    super('IN_USE', `${what} is in use by ${users.join(', ')}`);
  }
}

export class ConflictError extends DomainError {
  constructor(message: string, errors: FieldError[] = []) {
    super('CONFLICT', message, errors);
  }
}

export class PreconditionFailedError extends DomainError {
  constructor(message = 'If-Match does not match the current etag') {
    super('PRECONDITION_FAILED', message);
  }
}

export class IdempotencyMismatchError extends DomainError {
  constructor() {
    super('IDEMPOTENCY_MISMATCH', 'This Idempotency-Key was already used with a different request');
  }
}
