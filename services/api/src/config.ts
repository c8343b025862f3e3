/**
 * The API's settings: read from the environment once, here only, checked at start-up; a bad
 * value stops the process with one message naming every variable at fault.
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { EnvReader } from '@sunset/core';
import {
  DEFAULT_X_PRICES,
  NO_NOTIFICATIONS,
  parseNotificationSettings,
  parseXPrices,
  type NotificationSettings,
  type XPriceTable,
} from '@sunset/engine/outbox';
import { parsePublicKey } from '@sunset/store';

export interface ApiConfig {
  host: string;
  port: number;
  databaseUrl: string;
  databaseSchema?: string;
  redisUrl: string;
  queuePrefix?: string;
  production: boolean;
  /** SUNSET_REDIS_PERSISTENCE_CHECK: off runs on a Redis whose persistence is unknown or absent. */
  redisPersistenceCheck: 'on' | 'off';
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
  /**
   * The reverse proxies whose X-Forwarded-For is believed, by address or CIDR (none by
   * default): a client that is not one of them cannot choose the address it is limited by.
   */
  trustProxy: string[];
  /** Where Prometheus scrapes /metrics; undefined: not served at all. */
  metricsListen?: { host: string; port: number };
  /** Audit verifications each organisation may start per minute. */
  auditVerifyPerMinute: number;
  /**
   * SUNSET_AUDIT_PUBLIC_KEY_FILE, with SUNSET_AUDIT_CHECKPOINT_DIR: the audit verification also
   * compares the log with the newest checkpoint there signed by that key.
   */
  auditCheckpoints?: { dir: string; key: KeyObject };
  /** X's prices (SUNSET_X_PRICES over X's published ones), for the costs previews show. */
  xPrices: XPriceTable;
  /** SUNSET_NOTIFICATIONS_FILE: the channels and persons the admin role routes events to. */
  notifications: NotificationSettings;
}

export const API_ENV_HELP = `
  SUNSET_API_HOST               address to listen on (default 127.0.0.1; 0.0.0.0 in a container)
  SUNSET_API_PORT               port (default 8080)
  DATABASE_URL                  SQLite file or postgres:// URL (default ./data/sunset.db)
  DATABASE_SCHEMA               PostgreSQL schema to use instead of public
  DATABASE_PASSWORD_FILE        file holding the PostgreSQL password (kept out of DATABASE_URL)
  REDIS_URL                     default redis://127.0.0.1:6379
  SUNSET_QUEUE_PREFIX           Redis key prefix (default bull)
  SUNSET_ENV                    production or development (default development); production refuses a
                                Redis that may evict keys or keeps nothing on disk
  SUNSET_REDIS_PERSISTENCE_CHECK on or off: off starts even when Redis' persistence (AOF or RDB) cannot be read
                                (CONFIG disabled) or is absent, with a warning (default on)
  SUNSET_PLANS_DIR              where images of plans sent over HTTP are found (default ./config/plans)
  SUNSET_DATA_DIR               default ./data
  SUNSET_CORS_ORIGINS           comma-separated origins allowed to call the API from a browser (default none)
  SUNSET_BODY_LIMIT             largest request body in bytes (default 26214400: four images)
  SUNSET_AUTH_FAILURES_PER_MIN  failed sign-ins per IP per minute before 429 (default 10)
  SUNSET_TRUST_PROXY            addresses or CIDRs of the reverse proxies whose X-Forwarded-For is
                                believed, comma-separated, e.g. 10.0.0.5,172.16.0.0/12 (default none)
  SUNSET_METRICS_LISTEN         host:port of the operator's Prometheus listener, or off
                                (default 127.0.0.1:9464; never on the public port)
  SUNSET_AUDIT_VERIFY_PER_MIN   audit verifications per organisation per minute (default 2)
  SUNSET_AUDIT_PUBLIC_KEY_FILE  with SUNSET_AUDIT_CHECKPOINT_DIR: verify compares with the newest checkpoint signed by it
  SUNSET_X_PRICES               X's prices in dollars where they differ from X's published 2026 ones, as the
                                worker takes them (the crisis preview shows costs by them)
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
    notifications: readNotifications(r),
    host: r.string('SUNSET_API_HOST', '127.0.0.1'),
    port: r.int('SUNSET_API_PORT', 8080, { min: 0, max: 65_535 }),
    databaseUrl: r.databaseUrl(path.join(dataDir, 'sunset.db')),
    ...(schema ? { databaseSchema: schema } : {}),
    redisUrl: r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    ...(prefix ? { queuePrefix: prefix } : {}),
    production: mode === 'production',
    redisPersistenceCheck: r.oneOf('SUNSET_REDIS_PERSISTENCE_CHECK', ['on', 'off'], 'on'),
    plansDir: path.resolve(r.string('SUNSET_PLANS_DIR', 'config/plans')),
    dataDir,
    corsOrigins: (r.string('SUNSET_CORS_ORIGINS') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    bodyLimit: r.int('SUNSET_BODY_LIMIT', 25 * 1024 * 1024, { min: 1024, max: 200 * 1024 * 1024 }),
    authFailuresPerMinute: r.int('SUNSET_AUTH_FAILURES_PER_MIN', 10, { min: 1, max: 10_000 }),
    logLevel: r.oneOf('LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], 'info'),
    trustProxy: trustedProxies(r, r.string('SUNSET_TRUST_PROXY')),
    auditVerifyPerMinute: r.int('SUNSET_AUDIT_VERIFY_PER_MIN', 2, { min: 1, max: 60 }),
    xPrices: readXPrices(r),
  };
  const metrics = listenAddress(
    r,
    'SUNSET_METRICS_LISTEN',
    r.string('SUNSET_METRICS_LISTEN', '127.0.0.1:9464'),
  );
  if (metrics) config.metricsListen = metrics;
  const checkpoints = auditCheckpoints(r);
  if (checkpoints) config.auditCheckpoints = checkpoints;
  r.done();
  return config;
}

function readXPrices(r: EnvReader): XPriceTable {
  try {
    return parseXPrices(r.string('SUNSET_X_PRICES'));
  } catch (err) {
    r.problem(`SUNSET_X_PRICES: ${(err as Error).message}`);
    return DEFAULT_X_PRICES;
  }
}

/** The same file as the worker's (the worker sends; here the admin role sees and routes). */
function readNotifications(r: EnvReader): NotificationSettings {
  const file = r.string('SUNSET_NOTIFICATIONS_FILE');
  if (!file) return NO_NOTIFICATIONS;
  try {
    return parseNotificationSettings(readFileSync(file, 'utf8'), `SUNSET_NOTIFICATIONS_FILE ${file}`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    r.problem(code ? `SUNSET_NOTIFICATIONS_FILE: cannot read ${file} (${code})` : (err as Error).message);
    return NO_NOTIFICATIONS;
  }
}

function auditCheckpoints(r: EnvReader): ApiConfig['auditCheckpoints'] {
  const dir = r.string('SUNSET_AUDIT_CHECKPOINT_DIR');
  const keyFile = r.string('SUNSET_AUDIT_PUBLIC_KEY_FILE');
  // The folder alone is the worker's setting (an environment shared with it): the key turns this on.
  if (keyFile && !dir) r.problem('SUNSET_AUDIT_CHECKPOINT_DIR: needed with SUNSET_AUDIT_PUBLIC_KEY_FILE');
  if (!dir || !keyFile) return undefined;
  try {
    return {
      dir: path.resolve(dir),
      key: parsePublicKey(readFileSync(keyFile, 'utf8'), 'SUNSET_AUDIT_PUBLIC_KEY_FILE'),
    };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    r.problem(
      code ? `SUNSET_AUDIT_PUBLIC_KEY_FILE: cannot read ${keyFile} (${code})` : (err as Error).message,
    );
    return undefined;
  }
}

/** proxy-addr's names for address ranges, which Fastify's trustProxy list also takes. */
const RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * SUNSET_TRUST_PROXY: proxies named one by one. "true" (trust any forwarded header) is refused:
 * any client could then write its own X-Forwarded-For and pick the address it is limited by.
 */
function trustedProxies(r: EnvReader, raw: string | undefined): string[] {
  if (raw === undefined || raw === 'false') return [];
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (raw === 'true' || items.includes('true')) {
    r.problem(
      `SUNSET_TRUST_PROXY="${raw}": trusting every forwarded header lets any client choose its address; ` +
        'list the proxy addresses or CIDRs instead, e.g. SUNSET_TRUST_PROXY=10.0.0.5,172.16.0.0/12',
    );
    return [];
  }
  const bad = items.filter((item) => !RANGE_NAMES.includes(item) && !isAddressOrCidr(item));
  if (bad.length > 0 || items.length === 0) {
    r.problem(
      `SUNSET_TRUST_PROXY="${raw}": ${bad.map((b) => `"${b}"`).join(', ') || 'empty'} is not an IP address or CIDR; ` +
        'list the proxy addresses or CIDRs, comma-separated, e.g. 10.0.0.5,172.16.0.0/12',
    );
    return [];
  }
  return items;
}

function isAddressOrCidr(item: string): boolean {
  const [address = '', bits, ...rest] = item.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n <= (family === 4 ? 32 : 128);
}

/** host:port (IPv6 in brackets), or "off". */
function listenAddress(r: EnvReader, name: string, raw: string): { host: string; port: number } | undefined {
  if (raw === 'off') return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!host || !Number.isInteger(port) || port > 65_535) {
    r.problem(`${name}="${raw}": expected host:port (e.g. 127.0.0.1:9464, [::1]:9464) or off`);
    return undefined;
  }
  return { host, port };
}
