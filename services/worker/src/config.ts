/**
 * The worker's settings: read from the environment once, here only, checked at start-up; a bad
 * value stops the process with one message naming every variable at fault.
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  DEFAULT_X_PRICES,
  NO_NOTIFICATIONS,
  parseNotificationSettings,
  parseXPrices,
  type NotificationSettings,
  type XPriceTable,
} from '@sunset/engine';
import { parseFetchAllow } from '@sunset/networks';
import { EnvReader, NETWORKS, readStateKey, STATE_KEY_HELP, type Network } from '@sunset/core';
import { parseLimits, type Limiter } from '@sunset/queue';
import { parseSigningKey } from '@sunset/store';

export interface WorkerConfig {
  /** SQLite file path or postgres:// URL. */
  databaseUrl: string;
  /** PostgreSQL schema instead of public. */
  databaseSchema?: string;
  redisUrl: string;
  /** Key prefix in Redis (several deployments can share one Redis). */
  queuePrefix?: string;
  production: boolean;
  networks: readonly Network[];
  concurrency: number;
  /** Crisis jobs at once per network, in slots of their own (no ordinary job takes them). */
  crisisConcurrency: number;
  /**
   * PostgreSQL: connections of the crisis lane's own pool (0: the crisis lane shares the main
   * pool). SQLite always shares its one connection.
   */
  crisisPoolSize: number;
  limits: Partial<Record<Network, Limiter>>;
  shutdownGraceMs: number;
  reconcileIntervalMs: number;
  /** An ordinary job's lock and its delivery's lease: a dead worker's job moves on about this long after. */
  lockDurationMs: number;
  /** The same for crisis jobs, kept short so a crisis held by a dead worker is taken over in seconds. */
  crisisLockDurationMs: number;
  /** SUNSET_REDIS_PERSISTENCE_CHECK: off runs on a Redis whose persistence is unknown or absent. */
  redisPersistenceCheck: 'on' | 'off';
  networkTimeoutMs?: number;
  /** A connector (one per organisation and network) not used this long is closed (0: kept). */
  connectorIdleMs: number;
  dataDir: string;
  /** PEM to trust for X (a sandbox's self-signed certificate), from SUNSET_X_CA_FILE. */
  xCa?: string;
  /** Internal destinations ("host:port" or CIDR) that fetches of addresses from content may reach. */
  fetchAllow: readonly string[];
  /** Whether Bluesky posts get link cards read from the linked page (SUNSET_LINK_CARDS, default on). */
  linkCards: boolean;
  /** X's prices (SUNSET_X_PRICES over X's published ones), in micro-dollars. */
  xPrices: XPriceTable;
  /** Whether this process reads the plans' CAP feeds (SUNSET_FEEDS, default on). */
  feeds: boolean;
  /** Time limit of each read of a CAP feed or a CAP document it links to (SUNSET_FEED_TIMEOUT_MS). */
  feedTimeoutMs: number;
  /**
   * The watch (SUNSET_WATCH, default on): follower counts at their intervals and the daily
   * identity checks, with the DNS servers those ask (SUNSET_DNS_SERVERS); false: none here.
   */
  watch:
    | false
    | {
        followerIntervalsMs: Record<Network, number>;
        identityIntervalMs: number;
        dnsServers: readonly string[];
      };
  /**
   * Seals the Bluesky sessions kept in the store (SUNSET_STATE_KEY or SUNSET_STATE_KEY_FILE);
   * required in production. Absent in development: run.ts uses the data folder's key file.
   */
  stateKey?: Buffer;
  stateKeySource?: string;
  logLevel: string;
  /**
   * The environment, where the plans' credential references env:NAME are resolved; each
   * organisation reads only the variables starting with its prefix (ville-de-tours: VILLE_DE_TOURS__).
   */
  env: Readonly<Record<string, string | undefined>>;
  /** SUNSET_SECRETS_DIR: an organisation's file:name references are read from `<dir>/<org>/`. */
  secretsDir: string;
  /**
   * Signed audit checkpoints (docs/audit.md): the key (SUNSET_AUDIT_SIGNING_KEY_FILE) and the
   * folder off the host they go to (SUNSET_AUDIT_CHECKPOINT_DIR), both or neither.
   */
  auditCheckpoints?: { key: KeyObject; dir: string; intervalMs: number };
  /** SUNSET_NOTIFICATIONS_FILE: channels, persons' addresses and default routes per organisation. */
  notifications: NotificationSettings;
  /** SUNSET_HEARTBEAT_FILE: touched while the worker runs and Redis answers, for a container health check. */
  heartbeatFile?: string;
}

export const WORKER_ENV_HELP = `
  DATABASE_URL                  SQLite file or postgres:// URL (default ./data/sunset.db)
  DATABASE_SCHEMA               PostgreSQL schema to use instead of public
  DATABASE_PASSWORD_FILE        file holding the PostgreSQL password (kept out of DATABASE_URL)
  REDIS_URL                     default redis://127.0.0.1:6379
  SUNSET_QUEUE_PREFIX           Redis key prefix (default bull)
  SUNSET_ENV                    production refuses a Redis that may evict keys or keeps nothing on disk (default development)
  SUNSET_REDIS_PERSISTENCE_CHECK on or off: off starts even when Redis' persistence (AOF or RDB) cannot be read
                                (CONFIG disabled) or is absent, with a warning (default on)
  SUNSET_WORKER_NETWORKS        networks this process serves, e.g. x,bluesky (default all)
  SUNSET_WORKER_CONCURRENCY     ordinary and plan jobs at once per network (default 4)
  SUNSET_CRISIS_CONCURRENCY     crisis jobs at once per network, in slots of their own (default 16)
  SUNSET_CRISIS_POOL_SIZE       PostgreSQL connections of the crisis lane's own pool; 0 shares the main one (default 3)
  SUNSET_LIMITS                 posting rates, e.g. x=50/15m,mastodon=60/5m
  SUNSET_SHUTDOWN_GRACE_MS      how long running jobs may take to end on SIGTERM (default 10000)
  SUNSET_RECONCILE_INTERVAL_MS  how often the outbox is checked against Redis (default 60000)
  SUNSET_LOCK_DURATION_MS       an ordinary job's lock and lease: a dead worker's job is taken over
                                within about 4/3 of this (default 15000)
  SUNSET_CRISIS_LOCK_DURATION_MS  the same for crisis jobs (default 3000)
  SUNSET_NETWORK_TIMEOUT_MS     time limit of each request to a network (default 30000)
  SUNSET_CONNECTOR_IDLE_MS      an organisation's connector to a network not used this long is closed, and
                                made again at its next post; 0 keeps them all (default 900000, 15 minutes)
  SUNSET_DATA_DIR               files for people (manual checklists) (default ./data)
  SUNSET_X_CA_FILE              extra CA certificate (PEM) to trust for the X API
  SUNSET_LINK_CARDS             on or off: Bluesky link cards read from the linked page (default on)
  SUNSET_X_PRICES               X's prices in dollars where they differ from X's published 2026 ones, e.g.
                                create=0.015,create_with_url=0.2,read_post=0.005,read_user=0.01 (X's console is the reference)
  SUNSET_FETCH_ALLOW            internal destinations that link cards, profile images and CAP feeds may reach, comma-separated
                                host:port (that port only) or CIDR entries, e.g. 127.0.0.1:8080,10.2.0.0/16 (default none)
  SUNSET_FEEDS                  on or off: this worker reads the plans' CAP feeds, one worker per feed at a time (default on)
  SUNSET_FEED_TIMEOUT_MS        time limit of each read of a CAP feed or a CAP document it links to (default 15000)
  SUNSET_WATCH                  on or off: this worker reads follower counts and runs the daily identity checks,
                                one worker per organisation and task at a time (default on)
  SUNSET_FOLLOWERS_INTERVAL_MS  how often Bluesky and Mastodon follower counts are read (default 3600000)
  SUNSET_FOLLOWERS_X_INTERVAL_MS  how often the X follower count is read, a billed user read skipped when it
                                would dip into the crisis reserve (default 86400000)
  SUNSET_IDENTITY_INTERVAL_MS   how often the identity checks run (default 86400000)
  SUNSET_DNS_SERVERS            DNS servers the identity checks ask, comma-separated "ip" or "ip:port" (default the system's)
${STATE_KEY_HELP}
                                (development without one: a key file made once in SUNSET_DATA_DIR/state.key, 0600)
  SUNSET_SECRETS_DIR            folder of the plans' file: credentials, one sub-folder per organisation (default /run/secrets)
  SUNSET_AUDIT_SIGNING_KEY_FILE Ed25519 private key (PEM, PKCS#8) that signs audit checkpoints (recommended in production)
  SUNSET_AUDIT_CHECKPOINT_DIR   where signed audit checkpoints go, off the host (an archive share); needed with the key
  SUNSET_AUDIT_CHECKPOINT_INTERVAL_MS  how often a checkpoint is signed when the log has grown (default 300000)
  SUNSET_NOTIFICATIONS_FILE     YAML or JSON: per organisation, the notification channels (webhook, e-mail), the
                                persons' e-mail addresses and the default routes; secrets as env:/file: references
                                (docs/notifications.md; default none)
  SUNSET_HEARTBEAT_FILE         a file touched every 10 s while the worker runs and Redis answers (the image's
                                health check reads its age; default none)
  LOG_LEVEL                     trace, debug, info, warn, error (default info)`;

/** Absolute, so the worker and the CLI agree whatever folder they start in; Docker's own place. */
const DEFAULT_SECRETS_DIR = '/run/secrets';

export function readWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const r = new EnvReader(env);
  const dataDir = path.resolve(r.string('SUNSET_DATA_DIR', 'data'));
  const databaseUrl = r.databaseUrl(path.join(dataDir, 'sunset.db'));
  const redisUrl = r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']);
  const mode = r.oneOf(
    'SUNSET_ENV',
    ['production', 'development', 'test'],
    env['NODE_ENV'] === 'production' ? 'production' : 'development',
  );
  let limits: Partial<Record<Network, Limiter>> = {};
  const limitSpec = r.string('SUNSET_LIMITS');
  if (limitSpec) {
    try {
      limits = parseLimits(limitSpec);
    } catch (err) {
      r.problem(`SUNSET_LIMITS: ${(err as Error).message}`);
    }
  }
  let xCa: string | undefined;
  const caFile = r.string('SUNSET_X_CA_FILE');
  if (caFile) {
    try {
      xCa = readFileSync(caFile, 'utf8');
    } catch (err) {
      r.problem(
        `SUNSET_X_CA_FILE: cannot read ${caFile} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      );
    }
  }
  const fetchAllow = (r.string('SUNSET_FETCH_ALLOW') ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  try {
    parseFetchAllow(fetchAllow);
  } catch (err) {
    r.problem(`SUNSET_FETCH_ALLOW: ${(err as Error).message}`);
  }
  const stateKey = readStateKey({
    ...(r.string('SUNSET_STATE_KEY') !== undefined ? { value: r.string('SUNSET_STATE_KEY') } : {}),
    ...(r.string('SUNSET_STATE_KEY_FILE') !== undefined ? { file: r.string('SUNSET_STATE_KEY_FILE') } : {}),
    production: mode === 'production',
  });
  if (stateKey && 'problem' in stateKey) r.problem(stateKey.problem);
  const auditCheckpoints = readAuditCheckpoints(r);
  const timeout = r.int('SUNSET_NETWORK_TIMEOUT_MS', 0, { min: 0, max: 600_000 });
  const connectorIdleMs = r.int('SUNSET_CONNECTOR_IDLE_MS', 900_000, { min: 0, max: 86_400_000 });
  // A connector closed while a request of its own is on its way would cut that request short.
  if (connectorIdleMs > 0 && connectorIdleMs < 2 * (timeout || 30_000))
    r.problem(
      `SUNSET_CONNECTOR_IDLE_MS="${connectorIdleMs}": expected 0 or at least twice the network time limit (${2 * (timeout || 30_000)} ms)`,
    );
  const heartbeatFile = r.string('SUNSET_HEARTBEAT_FILE');
  const prefix = r.string('SUNSET_QUEUE_PREFIX');
  const schema = r.string('DATABASE_SCHEMA');
  const config: WorkerConfig = {
    databaseUrl,
    ...(schema ? { databaseSchema: schema } : {}),
    redisUrl,
    ...(prefix ? { queuePrefix: prefix } : {}),
    production: mode === 'production',
    networks: r.list('SUNSET_WORKER_NETWORKS', NETWORKS, NETWORKS),
    concurrency: r.int('SUNSET_WORKER_CONCURRENCY', 4, { min: 1, max: 256 }),
    // One alert relayed by a whole region is one job per organisation and network, each waiting
    // mostly on the network and the store: more at once finish sooner and share more statements.
    crisisConcurrency: r.int('SUNSET_CRISIS_CONCURRENCY', 16, { min: 1, max: 64 }),
    crisisPoolSize: r.int('SUNSET_CRISIS_POOL_SIZE', 3, { min: 0, max: 50 }),
    limits,
    shutdownGraceMs: r.int('SUNSET_SHUTDOWN_GRACE_MS', 10_000, { min: 0, max: 3_600_000 }),
    reconcileIntervalMs: r.int('SUNSET_RECONCILE_INTERVAL_MS', 60_000, { min: 0, max: 86_400_000 }),
    lockDurationMs: r.int('SUNSET_LOCK_DURATION_MS', 15_000, { min: 1_000, max: 600_000 }),
    crisisLockDurationMs: r.int('SUNSET_CRISIS_LOCK_DURATION_MS', 3_000, { min: 1_000, max: 600_000 }),
    redisPersistenceCheck: r.oneOf('SUNSET_REDIS_PERSISTENCE_CHECK', ['on', 'off'], 'on'),
    ...(timeout > 0 ? { networkTimeoutMs: timeout } : {}),
    connectorIdleMs,
    dataDir,
    ...(xCa ? { xCa } : {}),
    fetchAllow,
    linkCards: r.oneOf('SUNSET_LINK_CARDS', ['on', 'off'], 'on') === 'on',
    xPrices: readXPrices(r),
    feeds: r.oneOf('SUNSET_FEEDS', ['on', 'off'], 'on') === 'on',
    feedTimeoutMs: r.int('SUNSET_FEED_TIMEOUT_MS', 15_000, { min: 500, max: 300_000 }),
    watch: readWatch(r),
    ...(stateKey && 'key' in stateKey ? { stateKey: stateKey.key, stateKeySource: stateKey.source } : {}),
    logLevel: r.oneOf('LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], 'info'),
    env: { ...env },
    secretsDir: path.resolve(r.string('SUNSET_SECRETS_DIR', DEFAULT_SECRETS_DIR)),
    ...(auditCheckpoints ? { auditCheckpoints } : {}),
    notifications: readNotifications(r),
    ...(heartbeatFile ? { heartbeatFile: path.resolve(heartbeatFile) } : {}),
  };
  r.done();
  return config;
}

const DNS_SERVER = /^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|\[[0-9a-fA-F:]+\](:\d{1,5})?|[0-9a-fA-F:]+)$/;

function readWatch(r: EnvReader): WorkerConfig['watch'] {
  const on = r.oneOf('SUNSET_WATCH', ['on', 'off'], 'on') === 'on';
  const hourly = r.int('SUNSET_FOLLOWERS_INTERVAL_MS', 3_600_000, { min: 1_000, max: 30 * 86_400_000 });
  const x = r.int('SUNSET_FOLLOWERS_X_INTERVAL_MS', 86_400_000, { min: 1_000, max: 30 * 86_400_000 });
  const identityIntervalMs = r.int('SUNSET_IDENTITY_INTERVAL_MS', 86_400_000, {
    min: 1_000,
    max: 30 * 86_400_000,
  });
  const dnsServers = (r.string('SUNSET_DNS_SERVERS') ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const bad = dnsServers.filter((entry) => !DNS_SERVER.test(entry));
  if (bad.length > 0)
    r.problem(`SUNSET_DNS_SERVERS: ${bad.join(', ')} is not an IP address (with an optional :port)`);
  if (!on) return false;
  return { followerIntervalsMs: { x, bluesky: hourly, mastodon: hourly }, identityIntervalMs, dnsServers };
}

function readXPrices(r: EnvReader): XPriceTable {
  try {
    return parseXPrices(r.string('SUNSET_X_PRICES'));
  } catch (err) {
    r.problem(`SUNSET_X_PRICES: ${(err as Error).message}`);
    return DEFAULT_X_PRICES;
  }
}

/** The operator's notification settings; the API reads the same file to show and check routes. */
export function readNotifications(r: EnvReader): NotificationSettings {
  const file = r.string('SUNSET_NOTIFICATIONS_FILE');
  if (!file) return NO_NOTIFICATIONS;
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (err) {
    r.problem(
      `SUNSET_NOTIFICATIONS_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
    return NO_NOTIFICATIONS;
  }
  try {
    return parseNotificationSettings(content, `SUNSET_NOTIFICATIONS_FILE ${file}`);
  } catch (err) {
    r.problem((err as Error).message);
    return NO_NOTIFICATIONS;
  }
}

function readAuditCheckpoints(r: EnvReader): WorkerConfig['auditCheckpoints'] {
  const keyFile = r.string('SUNSET_AUDIT_SIGNING_KEY_FILE');
  const dir = r.string('SUNSET_AUDIT_CHECKPOINT_DIR');
  const intervalMs = r.int('SUNSET_AUDIT_CHECKPOINT_INTERVAL_MS', 300_000, { min: 1_000, max: 86_400_000 });
  // Half a setting would leave checkpoints off without anyone noticing.
  if (keyFile && !dir) r.problem('SUNSET_AUDIT_CHECKPOINT_DIR: needed with SUNSET_AUDIT_SIGNING_KEY_FILE');
  if (dir && !keyFile) r.problem('SUNSET_AUDIT_SIGNING_KEY_FILE: needed with SUNSET_AUDIT_CHECKPOINT_DIR');
  if (!keyFile || !dir) return undefined;
  let pem: string;
  try {
    pem = readFileSync(keyFile, 'utf8');
  } catch (err) {
    r.problem(
      `SUNSET_AUDIT_SIGNING_KEY_FILE: cannot read ${keyFile} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
    return undefined;
  }
  try {
    return { key: parseSigningKey(pem, 'SUNSET_AUDIT_SIGNING_KEY_FILE'), dir: path.resolve(dir), intervalMs };
  } catch (err) {
    r.problem((err as Error).message);
    return undefined;
  }
}
