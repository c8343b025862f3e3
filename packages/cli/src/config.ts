import os from 'node:os';
import path from 'node:path';
import { EnvReader, type StateKeySettings } from '@sunset/core';

/** As the worker's default: both must read an organisation's files from the same folder. */
const DEFAULT_SECRETS_DIR = '/run/secrets';

/** Everything the CLI reads from its environment, read once at start-up. */
export interface CliConfig {
  /** Colours on stdout: only on a terminal, unless NO_COLOR or FORCE_COLOR say otherwise. */
  colour: boolean;
  /** Width to wrap long texts at in human output. */
  width: number;
  /** The environment, where credential references (env:ORG__NAME) are resolved. */
  env: Readonly<Record<string, string | undefined>>;
  /** SUNSET_SECRETS_DIR (default /run/secrets): file:name references are read from `<dir>/<org>/`. */
  secretsDir: string;
  /** The store: a SQLite file (default ./data/sunset.db) or a postgres:// URL (DATABASE_URL). */
  databaseUrl: string;
  /** DATABASE_URL is set: commands that can do without the store (identity check) use it only then. */
  databaseConfigured: boolean;
  /** Why the store settings cannot be used (an unreadable DATABASE_PASSWORD_FILE), if so. */
  databaseProblem?: string;
  /** PostgreSQL schema to use instead of public (DATABASE_SCHEMA). */
  databaseSchema?: string;
  /** REDIS_URL (default redis://127.0.0.1:6379). */
  redisUrl: string;
  /** SUNSET_QUEUE_PREFIX, as the worker has it. */
  queuePrefix?: string;
  /** Who runs the command, for the audit log: `cli:<user>`. */
  actor: string;
  /** SUNSET_X_CA_FILE: an extra CA (PEM file) to trust for the X API (a sandbox). */
  xCaFile?: string;
  /** SUNSET_FETCH_ALLOW, as the worker has it: internal destinations profile images may be read from. */
  fetchAllow: readonly string[];
  /** SUNSET_DNS_SERVERS: the DNS servers identity checks ask ("ip" or "ip:port"); default the system's. */
  dnsServers: readonly string[];
  /** SUNSET_DATA_DIR (default ./data). */
  dataDir: string;
  /**
   * SUNSET_STATE_KEY or SUNSET_STATE_KEY_FILE, as the worker has them: `profile restore` logs in
   * to Bluesky and keeps the session sealed with it. Production (SUNSET_ENV or NODE_ENV) needs one.
   */
  stateKey: StateKeySettings;
  /** SUNSET_API_URL: talk to a deployment's API instead of its store. */
  apiUrl?: string;
  /** SUNSET_TOKEN or SUNSET_TOKEN_FILE: the API token to use. */
  token?: string;
  tokenFile?: string;
  /** SUNSET_AUDIT_SIGNING_KEY_FILE: the Ed25519 private key (PEM, PKCS#8) that signs audit checkpoints. */
  auditSigningKeyFile?: string;
  /** SUNSET_X_PRICES, as the worker has it: X's prices where they differ from X's published ones. */
  xPrices?: string;
  /** SUNSET_AUDIT_CHECKPOINT_DIR: where audit checkpoints are written (off the host: an archive share). */
  auditCheckpointDir?: string;
}

export function readCliConfig(
  env: NodeJS.ProcessEnv = process.env,
  stdout: { isTTY?: boolean; columns?: number } = process.stdout,
): CliConfig {
  const force = env['FORCE_COLOR'];
  let colour = Boolean(stdout.isTTY) && env['TERM'] !== 'dumb';
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') colour = false;
  if (force !== undefined) colour = force !== '0' && force !== 'false';
  const dataDir = path.resolve(env['SUNSET_DATA_DIR'] || 'data');
  // Read now, reported only by commands that open the store.
  const db = new EnvReader(env);
  const user = env['SUNSET_ACTOR'] || env['USER'] || env['LOGNAME'] || safeUser();
  return {
    colour,
    width: Math.max(60, Math.min(stdout.columns ?? 100, 120)),
    env: { ...env },
    secretsDir: path.resolve(env['SUNSET_SECRETS_DIR'] || DEFAULT_SECRETS_DIR),
    databaseUrl: db.databaseUrl(path.join(dataDir, 'sunset.db')),
    databaseConfigured: Boolean(env['DATABASE_URL']),
    ...(db.problems.length ? { databaseProblem: db.problems.join('; ') } : {}),
    ...(env['DATABASE_SCHEMA'] ? { databaseSchema: env['DATABASE_SCHEMA'] } : {}),
    redisUrl: env['REDIS_URL'] || 'redis://127.0.0.1:6379',
    ...(env['SUNSET_QUEUE_PREFIX'] ? { queuePrefix: env['SUNSET_QUEUE_PREFIX'] } : {}),
    actor: `cli:${user}`,
    ...(env['SUNSET_X_PRICES'] ? { xPrices: env['SUNSET_X_PRICES'] } : {}),
    ...(env['SUNSET_X_CA_FILE'] ? { xCaFile: env['SUNSET_X_CA_FILE'] } : {}),
    fetchAllow: (env['SUNSET_FETCH_ALLOW'] ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== ''),
    dnsServers: (env['SUNSET_DNS_SERVERS'] ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== ''),
    dataDir,
    stateKey: {
      ...(env['SUNSET_STATE_KEY'] ? { value: env['SUNSET_STATE_KEY'] } : {}),
      ...(env['SUNSET_STATE_KEY_FILE'] ? { file: env['SUNSET_STATE_KEY_FILE'] } : {}),
      production:
        (env['SUNSET_ENV'] || (env['NODE_ENV'] === 'production' ? 'production' : '')) === 'production',
    },
    ...(env['SUNSET_API_URL'] ? { apiUrl: env['SUNSET_API_URL'] } : {}),
    ...(env['SUNSET_TOKEN'] ? { token: env['SUNSET_TOKEN'] } : {}),
    ...(env['SUNSET_TOKEN_FILE'] ? { tokenFile: env['SUNSET_TOKEN_FILE'] } : {}),
    ...(env['SUNSET_AUDIT_SIGNING_KEY_FILE']
      ? { auditSigningKeyFile: path.resolve(env['SUNSET_AUDIT_SIGNING_KEY_FILE']) }
      : {}),
    ...(env['SUNSET_AUDIT_CHECKPOINT_DIR']
      ? { auditCheckpointDir: path.resolve(env['SUNSET_AUDIT_CHECKPOINT_DIR']) }
      : {}),
  };
}

function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'unknown';
  }
}
