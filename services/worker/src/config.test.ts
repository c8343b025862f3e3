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
    expect(readWorkerConfig({ NODE_ENV: 'production' }).production).toBe(true);
    expect(readWorkerConfig({ SUNSET_ENV: 'development', NODE_ENV: 'production' }).production).toBe(false);
    const c = readWorkerConfig({ SUNSET_LIMITS: 'x=10/1m', SUNSET_WORKER_NETWORKS: 'bluesky, mastodon' });
    expect(c.limits).toEqual({ x: { max: 10, duration: 60_000 } });
    expect(c.networks).toEqual(['bluesky', 'mastodon']);
  });

  it('gives the crisis lane slots and a pool of its own, and refuses counts out of range', () => {
    const d = readWorkerConfig({});
    expect(d.crisisConcurrency).toBe(4);
    expect(d.crisisPoolSize).toBe(3);
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
});
