import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '@sunset/core';
import { describe, expect, it } from 'vitest';
import { readWorkerConfig } from './config.ts';

describe('the worker configuration', () => {
  it('runs on the embedded defaults with an empty environment', () => {
    const c = readWorkerConfig({});
    expect(c.databaseUrl).toMatch(/data\/sunset\.db$/);
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.networks).toEqual(['x', 'bluesky', 'mastodon']);
    expect(c.production).toBe(false);
    expect(c.concurrency).toBe(4);
    expect(c.secretsDir).toBe('/run/secrets');
  });

  it('reads the secrets folder, made absolute so that relative names do not depend on later moves', () => {
    expect(readWorkerConfig({ SUNSET_SECRETS_DIR: '/srv/sunset/secrets' }).secretsDir).toBe(
      '/srv/sunset/secrets',
    );
    expect(readWorkerConfig({ SUNSET_SECRETS_DIR: 'secrets' }).secretsDir).toBe(path.resolve('secrets'));
  });

  it('names every bad variable at once, and why', () => {
    let error: unknown;
    try {
      readWorkerConfig({
        REDIS_URL: 'http://127.0.0.1:6379',
        SUNSET_WORKER_CONCURRENCY: 'lots',
        SUNSET_WORKER_NETWORKS: 'x,facebook',
        SUNSET_LIMITS: 'x=ten/1m',
        SUNSET_X_CA_FILE: '/nonexistent/ca.pem',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/REDIS_URL: the URL must start with redis:\/\/ or rediss:\/\//);
    expect(problems.join('\n')).toMatch(
      /SUNSET_WORKER_CONCURRENCY="lots": expected a whole number from 1 to 256/,
    );
    expect(problems.join('\n')).toMatch(
      /SUNSET_WORKER_NETWORKS="x,facebook": expected a comma-separated list of x, bluesky, mastodon/,
    );
    expect(problems.join('\n')).toMatch(/SUNSET_LIMITS: limit "x=ten\/1m"/);
    expect(problems.join('\n')).toMatch(/SUNSET_X_CA_FILE: cannot read \/nonexistent\/ca\.pem \(ENOENT\)/);
  });

  it('takes production from SUNSET_ENV or NODE_ENV, and parses limits and networks', () => {
    expect(readWorkerConfig({ NODE_ENV: 'production', SUNSET_STATE_KEY: 'ab'.repeat(32) }).production).toBe(
      true,
    );
    expect(readWorkerConfig({ SUNSET_ENV: 'development', NODE_ENV: 'production' }).production).toBe(false);
    const c = readWorkerConfig({ SUNSET_LIMITS: 'x=10/1m', SUNSET_WORKER_NETWORKS: 'bluesky, mastodon' });
    expect(c.limits).toEqual({ x: { max: 10, duration: 60_000 } });
    expect(c.networks).toEqual(['bluesky', 'mastodon']);
  });

  it('gives the crisis lane slots and a pool of its own, and refuses counts out of range', () => {
    const d = readWorkerConfig({});
    expect(d.crisisConcurrency).toBe(16);
    expect(d.crisisPoolSize).toBe(3);
    expect(d.connectorIdleMs).toBe(900_000);
    expect(readWorkerConfig({ SUNSET_CONNECTOR_IDLE_MS: '0' }).connectorIdleMs).toBe(0);
    expect(() => readWorkerConfig({ SUNSET_CONNECTOR_IDLE_MS: '30000' })).toThrow(
      /SUNSET_CONNECTOR_IDLE_MS="30000": expected 0 or at least twice the network time limit \(60000 ms\)/,
    );
    const c = readWorkerConfig({ SUNSET_CRISIS_CONCURRENCY: '8', SUNSET_CRISIS_POOL_SIZE: '0' });
    expect(c.crisisConcurrency).toBe(8);
    expect(c.crisisPoolSize).toBe(0);
    let error: unknown;
    try {
      readWorkerConfig({ SUNSET_CRISIS_CONCURRENCY: '0', SUNSET_CRISIS_POOL_SIZE: 'many' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/SUNSET_CRISIS_CONCURRENCY="0": expected a whole number from 1 to 64/);
    expect(problems).toMatch(/SUNSET_CRISIS_POOL_SIZE="many": expected a whole number from 0 to 50/);
  });

  it('keeps locks short enough for a quick takeover: 15 s ordinary, 3 s crisis, 1 s at least', () => {
    const d = readWorkerConfig({});
    expect([d.lockDurationMs, d.crisisLockDurationMs]).toEqual([15_000, 3_000]);
    const c = readWorkerConfig({ SUNSET_LOCK_DURATION_MS: '20000', SUNSET_CRISIS_LOCK_DURATION_MS: '2000' });
    expect([c.lockDurationMs, c.crisisLockDurationMs]).toEqual([20_000, 2_000]);
    expect(() => readWorkerConfig({ SUNSET_CRISIS_LOCK_DURATION_MS: '500' })).toThrow(
      /SUNSET_CRISIS_LOCK_DURATION_MS="500": expected a whole number from 1000 to 600000/,
    );
  });

  it('reads the CAP feed settings: on, 15 s per read by default', () => {
    const d = readWorkerConfig({});
    expect([d.feeds, d.feedTimeoutMs]).toEqual([true, 15_000]);
    const c = readWorkerConfig({ SUNSET_FEEDS: 'off', SUNSET_FEED_TIMEOUT_MS: '2000' });
    expect([c.feeds, c.feedTimeoutMs]).toEqual([false, 2_000]);
    expect(() => readWorkerConfig({ SUNSET_FEED_TIMEOUT_MS: '10' })).toThrow(/SUNSET_FEED_TIMEOUT_MS="10"/);
  });

  it('reads the watch: on, X followers daily, the others hourly, identity daily, the system DNS', () => {
    expect(readWorkerConfig({}).watch).toEqual({
      followerIntervalsMs: { x: 86_400_000, bluesky: 3_600_000, mastodon: 3_600_000 },
      identityIntervalMs: 86_400_000,
      dnsServers: [],
    });
    const c = readWorkerConfig({
      SUNSET_FOLLOWERS_X_INTERVAL_MS: '604800000',
      SUNSET_FOLLOWERS_INTERVAL_MS: '900000',
      SUNSET_IDENTITY_INTERVAL_MS: '43200000',
      SUNSET_DNS_SERVERS: '9.9.9.9, 127.0.0.1:5353',
    }).watch;
    expect(c).toEqual({
      followerIntervalsMs: { x: 604_800_000, bluesky: 900_000, mastodon: 900_000 },
      identityIntervalMs: 43_200_000,
      dnsServers: ['9.9.9.9', '127.0.0.1:5353'],
    });
    expect(readWorkerConfig({ SUNSET_WATCH: 'off' }).watch).toBe(false);
    expect(() => readWorkerConfig({ SUNSET_DNS_SERVERS: 'dns.example' })).toThrow(
      /SUNSET_DNS_SERVERS: dns.example is not an IP address/,
    );
  });

  it('reads the content-fetch settings: link cards on and nothing internal allowed by default', () => {
    const d = readWorkerConfig({});
    expect(d.linkCards).toBe(true);
    expect(d.fetchAllow).toEqual([]);
    const c = readWorkerConfig({
      SUNSET_LINK_CARDS: 'off',
      SUNSET_FETCH_ALLOW: ' 127.0.0.1:8080, [::1]:9000,10.2.0.0/16',
    });
    expect(c.linkCards).toBe(false);
    expect(c.fetchAllow).toEqual(['127.0.0.1:8080', '[::1]:9000', '10.2.0.0/16']);
    let error: unknown;
    try {
      readWorkerConfig({ SUNSET_LINK_CARDS: 'maybe', SUNSET_FETCH_ALLOW: '127.0.0.1:8080,localhost' });
    } catch (err) {
      error = err;
    }
    expect((error as ConfigError).problems).toEqual([
      'SUNSET_FETCH_ALLOW: "localhost" is neither host:port (e.g. 127.0.0.1:8080) nor a CIDR range',
      'SUNSET_LINK_CARDS="maybe": expected one of on, off',
    ]);
  });
});

describe('the state key (Bluesky sessions at rest)', () => {
  const problemsOf = (env: NodeJS.ProcessEnv): readonly string[] => {
    try {
      readWorkerConfig(env);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return [];
  };

  it('is required in production, and says how to make one', () => {
    expect(problemsOf({ SUNSET_ENV: 'production' })).toEqual([
      'SUNSET_STATE_KEY or SUNSET_STATE_KEY_FILE: required in production, to encrypt the Bluesky sessions kept in the store (make one: openssl rand -hex 32)',
    ]);
  });

  it('takes 32 bytes as hex, base64 or a file; refuses anything else without echoing it', () => {
    const hex = '0123456789abcdef'.repeat(4);
    expect(
      readWorkerConfig({ SUNSET_ENV: 'production', SUNSET_STATE_KEY: hex }).stateKey?.toString('hex'),
    ).toBe(hex);
    const b64 = Buffer.from(hex, 'hex').toString('base64');
    expect(readWorkerConfig({ SUNSET_STATE_KEY: b64 }).stateKey?.toString('hex')).toBe(hex);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-key-'));
    try {
      writeFileSync(path.join(dir, 'key'), `${hex}\n`);
      const c = readWorkerConfig({ SUNSET_ENV: 'production', SUNSET_STATE_KEY_FILE: path.join(dir, 'key') });
      expect(c.stateKey?.toString('hex')).toBe(hex);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const problems = problemsOf({ SUNSET_STATE_KEY: 'hunter2-short-secret' });
    expect(problems).toEqual([
      'SUNSET_STATE_KEY: expected 32 bytes as 64 hex digits or base64 (make one: openssl rand -hex 32)',
    ]);
    expect(problemsOf({ SUNSET_STATE_KEY_FILE: '/nonexistent/key' })).toEqual([
      'SUNSET_STATE_KEY_FILE: cannot read /nonexistent/key (ENOENT)',
    ]);
  });

  it('development without a key: none in the configuration (the worker makes its data folder key file)', () => {
    expect(readWorkerConfig({}).stateKey).toBeUndefined();
  });

  it('reads the audit checkpoint settings: key and folder together, the key an Ed25519 one', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-worker-cp-config-'));
    try {
      const keyFile = path.join(dir, 'signing.pem');
      const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
      writeFileSync(keyFile, pem);
      expect(readWorkerConfig({}).auditCheckpoints).toBeUndefined();
      const c = readWorkerConfig({
        SUNSET_AUDIT_SIGNING_KEY_FILE: keyFile,
        SUNSET_AUDIT_CHECKPOINT_DIR: dir,
      });
      expect(c.auditCheckpoints?.intervalMs).toBe(300_000);
      expect(c.auditCheckpoints?.key.asymmetricKeyType).toBe('ed25519');
      const rsa = path.join(dir, 'rsa.pem');
      writeFileSync(
        rsa,
        generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
          type: 'pkcs8',
          format: 'pem',
        }),
      );
      const problems = (env: NodeJS.ProcessEnv) => {
        try {
          readWorkerConfig(env);
        } catch (err) {
          return (err as ConfigError).problems;
        }
        return [];
      };
      expect(problems({ SUNSET_AUDIT_SIGNING_KEY_FILE: keyFile })).toEqual([
        'SUNSET_AUDIT_CHECKPOINT_DIR: needed with SUNSET_AUDIT_SIGNING_KEY_FILE',
      ]);
      expect(problems({ SUNSET_AUDIT_SIGNING_KEY_FILE: rsa, SUNSET_AUDIT_CHECKPOINT_DIR: dir })).toEqual([
        'SUNSET_AUDIT_SIGNING_KEY_FILE: an Ed25519 key is needed, this one is rsa',
      ]);
      expect(
        problems({
          SUNSET_AUDIT_SIGNING_KEY_FILE: path.join(dir, 'none.pem'),
          SUNSET_AUDIT_CHECKPOINT_DIR: dir,
        }),
      ).toEqual([`SUNSET_AUDIT_SIGNING_KEY_FILE: cannot read ${path.join(dir, 'none.pem')} (ENOENT)`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
