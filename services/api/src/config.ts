/**
 * The API's settings: read from the environment once, here only, checked at start-up; a bad
 * value stops the process with one message naming every variable at fault.
 */
import path from 'node:path';
import { EnvReader } from '@sunset/core';

export interface ApiConfig {
  host: string;
  port: number;
  databaseUrl: string;
  databaseSchema?: string;
  redisUrl: string;
  queuePrefix?: string;
  production: boolean;
  /** Where plan files sent over HTTP find their images (the folder the plans live in). */
  plansDir: string;
  dataDir: string;
  /** Origins allowed by CORS; none by default (the dashboard is served from the API itself). */
  corsOrigins: string[];
  /** Largest request body, in bytes. */
  bodyLimit: number;
  /** Failed sign-ins allowed per IP per minute before 429. */
  authFailuresPerMinute: number;
  logLevel: string;
  /** Trust X-Forwarded-For from a reverse proxy in front of the API. */
  trustProxy: boolean;
}

export const API_ENV_HELP = `
  SUNSET_API_HOST               address to listen on (default 127.0.0.1; 0.0.0.0 in a container)
  SUNSET_API_PORT               port (default 8080)
  DATABASE_URL                  SQLite file or postgres:// URL (default ./data/sunset.db)
  DATABASE_SCHEMA               PostgreSQL schema to use instead of public
  DATABASE_PASSWORD_FILE        file holding the PostgreSQL password (kept out of DATABASE_URL)
  REDIS_URL                     default redis://127.0.0.1:6379
  SUNSET_QUEUE_PREFIX           Redis key prefix (default bull)
  SUNSET_ENV                    production or development (default development)
  SUNSET_PLANS_DIR              where images of plans sent over HTTP are found (default ./config/plans)
  SUNSET_DATA_DIR               default ./data
  SUNSET_CORS_ORIGINS           comma-separated origins allowed to call the API from a browser (default none)
  SUNSET_BODY_LIMIT             largest request body in bytes (default 26214400: four images)
  SUNSET_AUTH_FAILURES_PER_MIN  failed sign-ins per IP per minute before 429 (default 10)
  SUNSET_TRUST_PROXY            true behind a reverse proxy (default false)
  LOG_LEVEL                     trace, debug, info, warn, error (default info)`;

export function readApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const r = new EnvReader(env);
  const dataDir = path.resolve(r.string('SUNSET_DATA_DIR', 'data'));
  const schema = r.string('DATABASE_SCHEMA');
  const prefix = r.string('SUNSET_QUEUE_PREFIX');
  const mode = r.oneOf(
    'SUNSET_ENV',
    ['production', 'development', 'test'],
    env['NODE_ENV'] === 'production' ? 'production' : 'development',
  );
  const config: ApiConfig = {
    host: r.string('SUNSET_API_HOST', '127.0.0.1'),
    port: r.int('SUNSET_API_PORT', 8080, { min: 0, max: 65_535 }),
    databaseUrl: r.databaseUrl(path.join(dataDir, 'sunset.db')),
    ...(schema ? { databaseSchema: schema } : {}),
    redisUrl: r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    ...(prefix ? { queuePrefix: prefix } : {}),
    production: mode === 'production',
    plansDir: path.resolve(r.string('SUNSET_PLANS_DIR', 'config/plans')),
    dataDir,
    corsOrigins: (r.string('SUNSET_CORS_ORIGINS') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    bodyLimit: r.int('SUNSET_BODY_LIMIT', 25 * 1024 * 1024, { min: 1024, max: 200 * 1024 * 1024 }),
    authFailuresPerMinute: r.int('SUNSET_AUTH_FAILURES_PER_MIN', 10, { min: 1, max: 10_000 }),
    logLevel: r.oneOf('LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], 'info'),
    trustProxy: r.oneOf('SUNSET_TRUST_PROXY', ['true', 'false'], 'false') === 'true',
  };
  r.done();
  return config;
}
