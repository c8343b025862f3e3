/**
 * The store's own errors, so that nothing above the store needs to know a database driver's
 * error codes or messages.
 */
import { SunsetError } from '@sunset/core';

/** The store cannot be opened, reached or migrated, or did not answer as it must. */
export class StoreError extends SunsetError {
  constructor(message: string, options?: ErrorOptions, code = 'store') {
    super(code, message, options);
  }
}

/**
 * The database could not be reached for this call (connection refused or lost, database locked,
 * closed or full); trying again later may succeed. The driver's error is the cause.
 */
export class StoreUnavailableError extends StoreError {
  constructor(cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`the store is not answering: ${reason}`, { cause }, 'store.unavailable');
  }
}

/** Driver codes that mean "out of reach": node's socket errors, PostgreSQL's classes 08 and 57P, SQLite's. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
  'SQLITE_BUSY',
  'SQLITE_IOERR',
  'SQLITE_CANTOPEN',
  'SQLITE_FULL',
]);

/**
 * Errors without such a code that mean the same: better-sqlite3 and Kysely after close, pg when
 * its connection ends or the pool has none to give in time.
 */
const UNAVAILABLE_MESSAGES =
  /database connection is not open|driver has already been destroyed|Connection terminated|timeout exceeded when trying to connect/i;

/** Whether `err` (or one of its first causes) says the database is out of reach. */
export function isUnavailable(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, i = 0;
    e && i < 4;
    e = e.cause as typeof e, i++
  ) {
    if (typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code)) return true;
    if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message)) return true;
  }
  return false;
}

const rethrow = (err: unknown): never => {
  throw err instanceof StoreUnavailableError || !isUnavailable(err) ? err : new StoreUnavailableError(err);
};

/** `fn` with an out-of-reach database's errors thrown as StoreUnavailableError; any other error as it is. */
export function unavailableAsStoreError<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
): (...args: A) => Promise<R> {
  return (...args) => {
    try {
      return fn(...args).then(undefined, rethrow);
    } catch (err) {
      return rethrow(err);
    }
  };
}

/** Every method of `group` wrapped by unavailableAsStoreError. */
export function guardGroup<T extends object>(group: T): T {
  const guarded: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(group)) {
    guarded[name] =
      typeof value === 'function'
        ? unavailableAsStoreError(value as (...args: unknown[]) => Promise<unknown>)
        : value;
  }
  return guarded as T;
}
