/**
 * The one way to make a logger: pino, JSON lines, with every field that can carry a secret
 * redacted wherever it appears. Services make one root logger and hand child loggers down
 * (`logger.child({ subsystem: 'x-connector', network: 'x' })`).
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Field names whose values never reach a log line, at any depth up to three levels. */
export const REDACTED_KEYS = [
  'authorization',
  'Authorization',
  'password',
  'app_password',
  'appPassword',
  'accessToken',
  'access_token',
  'accessSecret',
  'access_secret',
  'appKey',
  'app_key',
  'appSecret',
  'app_secret',
  'refreshJwt',
  'accessJwt',
  'token',
  'secret',
  'cookie',
] as const;

const SECRET_KEYS: ReadonlySet<string> = new Set(REDACTED_KEYS);
const CENSOR = '[redacted]';
/** Deeper than this a value is not written at all: a secret could hide there unread. */
const MAX_DEPTH = 10;

/**
 * `value` with every property named in REDACTED_KEYS censored, at any depth down to MAX_DEPTH,
 * in plain objects, arrays and errors (their own properties, `cause` included); other objects
 * (dates, buffers, class instances) are written as they serialise themselves. The input is never
 * changed: what holds a secret is copied, and what holds none is returned as it is, so a line with
 * nothing to hide allocates nothing. One walk over the line's values replaces pino's path
 * redaction (a pattern per key and depth), which cost many times what writing the line costs
 * (docs/performance-notes.md).
 */
export function redactSecrets<T>(value: T): T {
  return scrub(value, 0, []) as T;
}

function scrub(value: unknown, depth: number, ancestors: object[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  // A cycle: pino's own serialiser writes it as "[Circular]".
  if (ancestors.includes(value)) return value;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    ancestors.push(value);
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const clean = scrub(item, depth + 1, ancestors);
      if (clean !== item) (copy ??= value.slice())[i] = clean;
    }
    ancestors.pop();
    return copy ?? value;
  }
  const isError = value instanceof Error;
  const proto: unknown = Object.getPrototypeOf(value);
  if (!isError && proto !== Object.prototype && proto !== null) return value;
  let copy: object | undefined;
  ancestors.push(value);
  // An error's message, stack and cause are its own properties, not enumerable ones.
  for (const key of isError ? Object.getOwnPropertyNames(value) : Object.keys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key);
    if (!descriptor) continue;
    // A getter is read as the serialiser would read it; the copy holds what it gave.
    const item: unknown = 'value' in descriptor ? descriptor.value : Reflect.get(value, key);
    const clean = SECRET_KEYS.has(key) && item !== undefined ? CENSOR : scrub(item, depth + 1, ancestors);
    if (clean === item) continue;
    copy ??= shallowCopy(value, proto as object | null);
    Object.defineProperty(copy, key, {
      value: clean,
      enumerable: descriptor.enumerable ?? false,
      writable: true,
      configurable: true,
    });
  }
  ancestors.pop();
  return copy ?? value;
}

/**
 * A copy with the same prototype and own properties. Accessors become the values they give:
 * V8 keeps an error's stack behind a getter that reads the original error, not a copy.
 */
function shallowCopy(value: object, proto: object | null): object {
  const copy = Object.create(proto) as object;
  for (const key of Reflect.ownKeys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key)!;
    Object.defineProperty(
      copy,
      key,
      'value' in descriptor
        ? descriptor
        : {
            value: Reflect.get(value, key) as unknown,
            enumerable: descriptor.enumerable ?? false,
            writable: true,
            configurable: true,
          },
    );
  }
  return copy;
}

export interface CreateLoggerOptions {
  name: string;
  level?: LoggerOptions['level'];
  /** Where lines go (default stdout); tests pass a stream to read what was logged. */
  destination?: DestinationStream;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const logger = pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      // Every line's own fields, before pino serialises them (a child's bindings: below).
      formatters: { log: redactSecrets },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
  // pino gives a child's bindings to neither formatter: they are cleaned here, for the children
  // of this logger and, through the prototype they inherit it from, for theirs.
  const makeChild = logger.child;
  logger.child = function child(this: Logger, bindings: Record<string, unknown>, childOptions?: unknown) {
    return makeChild.call(this, redactSecrets(bindings), childOptions as Parameters<Logger['child']>[1]);
  } as Logger['child'];
  return logger;
}

const writeNothing = () => undefined;

/**
 * `parent.child(bindings)`, made only when a line is written through it at a level that is on.
 * Making a child serialises and redacts its bindings at once: a job's logger that writes
 * nothing, as at level warn, then costs nothing.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  return new Proxy(parent, {
    get(target, key) {
      if (typeof key === 'string' && key in target.levels.values && !target.isLevelEnabled(key)) {
        return writeNothing;
      }
      child ??= target.child(bindings);
      const value: unknown = Reflect.get(child, key);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(child) : value;
    },
  });
}

/** A logger that writes nothing, for library code called without one. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
