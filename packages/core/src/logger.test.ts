import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, lazyChild } from './logger.ts';
import { resolveCredential, Secret } from './credentials.ts';
import { inspect } from 'node:util';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, logger: createLogger({ name: 'test', destination }) };
}

describe('createLogger', () => {
  it('redacts secrets at any depth', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        authorization: 'Bearer abc123',
        creds: { app_password: 'hunter2', nested: { accessJwt: 'eyJ.secret' } },
      },
      'hello',
    );
    const out = lines.join('');
    expect(out).toContain('"msg":"hello"');
    expect(out).not.toContain('abc123');
    expect(out).not.toContain('hunter2');
    expect(out).not.toContain('eyJ.secret');
    expect(out).toContain('[redacted]');
  });
});

describe('lazyChild', () => {
  it('writes what a child writes, bindings redacted, and makes no child for levels that are off', () => {
    const { lines, logger } = capture();
    logger.level = 'warn';
    let made = 0;
    const child = logger.child.bind(logger);
    logger.child = ((...args: Parameters<typeof logger.child>) => {
      made += 1;
      return child(...args);
    }) as typeof logger.child;
    const log = lazyChild(logger, { jobId: 'j1', token: 'tok-secret' });
    log.info({ part: 1 }, 'not written');
    log.debug('nor this');
    expect(made).toBe(0);
    expect(lines).toEqual([]);
    log.warn({ part: 2 }, 'written');
    log.error('and this');
    expect(made).toBe(1);
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({ jobId: 'j1', token: '[redacted]', part: 2, msg: 'written', level: 40 });
    expect(lines.join('')).not.toContain('tok-secret');
    expect(log.isLevelEnabled('info')).toBe(false);
  });
});

describe('resolveCredential', () => {
  it('reads env: references from the environment passed in', () => {
    const s = resolveCredential('env:TOKEN', { TOKEN: 's3cr3t' });
    expect(s.reveal()).toBe('s3cr3t');
    expect(String(s)).toBe('[secret from env:TOKEN]');
    expect(JSON.stringify({ s })).not.toContain('s3cr3t');
    expect(inspect(s)).not.toContain('s3cr3t');
  });
  it('says which variable is missing, without any value', () => {
    expect(() => resolveCredential('env:NOPE', {}, 'networks.x.credentials.app_key')).toThrow(
      'networks.x.credentials.app_key: the environment variable NOPE is not set',
    );
  });
  it('refuses a literal secret', () => {
    expect(() => resolveCredential('abc', {})).toThrow(/not the secret itself/);
  });
  it('reads file: references', () => {
    expect(() => resolveCredential('file:/nonexistent/secret', {})).toThrow(
      'cannot read /nonexistent/secret (no such file)',
    );
    expect(resolveCredential(`file:${new URL(import.meta.url).pathname}`, {}).reveal()).toContain(
      'resolveCredential',
    );
  });
  it('is a Secret', () => {
    expect(resolveCredential('env:A', { A: 'x' })).toBeInstanceOf(Secret);
  });
});
