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

/** A logger that writes nothing, for library code called without one. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
