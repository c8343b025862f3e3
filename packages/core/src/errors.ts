/**
 * Base of every error the toolkit raises on purpose. `code` is stable and machine-readable;
 * `message` is written for the person who has to act on it.
 */
export class SunsetError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad input from a user (plan, request, config): nothing was changed. */
export class InputError extends SunsetError {
  constructor(message: string, options?: ErrorOptions) {
    super('input', message, options);
  }
}

/**
 * What was asked for by name is not there (a post, an applied plan): nothing was changed. `code`
 * says what was missing, for the caller's reply ('not-found', 'no-plan').
 */
export class NotFoundError extends SunsetError {
  constructor(message: string, code = 'not-found', options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** The request is at odds with what is stored already: nothing was changed. */
export class ConflictError extends SunsetError {
  constructor(message: string, code = 'conflict', options?: ErrorOptions) {
    super(code, message, options);
  }
}
