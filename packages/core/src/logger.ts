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

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const key of REDACTED_KEYS) {
    paths.push(key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`);
  }
  paths.push('req.headers.authorization', 'req.headers.cookie');
  return paths;
}

export interface CreateLoggerOptions {
  name: string;
  level?: LoggerOptions['level'];
  /** Where lines go (default stdout); tests pass a stream to read what was logged. */
  destination?: DestinationStream;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      redact: { paths: redactPaths(), censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

const writeNothing = () => undefined;

/**
 * `parent.child(bindings)`, made only when a line is written through it at a level that is on.
 * Making a child serialises and redacts its bindings at once (some 0.1 ms with the paths above):
 * a job's logger that writes nothing, as at level warn, then costs nothing.
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
