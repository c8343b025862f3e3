import { describe, expect, it } from 'vitest';
import { createLogger, lazyChild, redactSecrets } from './logger.ts';
import { resolveCredential, Secret } from './credentials.ts';
import { inspect } from 'node:util';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

function capture() {
  const lines: string[] = [];
  const destination = { write: (line: string) => lines.push(line) };
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

  it('redacts deeper than three levels, in arrays, in errors and their causes, in bindings', () => {
    const { lines, logger } = capture();
    const cause = Object.assign(new Error('refused'), { headers: { authorization: 'OAuth sig-cause' } });
    const err = Object.assign(new Error('upload failed', { cause }), {
      request: { options: { headers: { cookie: 'sid=cookie-secret' } } },
    });
    const child = logger.child({ session: { refreshJwt: 'jwt-in-binding' } });
    child.error(
      {
        a: { b: { c: { d: { e: { password: 'five-deep' } } } } },
        list: [{ ok: 1 }, { token: 'tok-in-array' }],
        err,
      },
      'deep',
    );
    const out = lines.join('');
    for (const secret of ['five-deep', 'tok-in-array', 'sig-cause', 'cookie-secret', 'jwt-in-binding']) {
      expect(out).not.toContain(secret);
    }
    const line = JSON.parse(lines[0]!) as {
      list: unknown[];
      err: { type: string; message: string; stack: string; request: unknown };
    };
    // What holds no secret is written as it was; the error is still serialised as an error.
    expect(line.list[0]).toEqual({ ok: 1 });
    expect(line.err.type).toBe('Error');
    expect(line.err.message).toContain('upload failed');
    expect(line.err.stack).toContain('upload failed');
    expect(line.err.request).toEqual({ options: { headers: { cookie: '[redacted]' } } });
    // The values logged are not changed.
    expect((err.cause as typeof cause).headers.authorization).toBe('OAuth sig-cause');
    expect(err.request.options.headers.cookie).toBe('sid=cookie-secret');
  });
});

describe('redactSecrets', () => {
  it('returns what holds no secret as it is, copies what does, and stops at cycles and depth', () => {
    const clean = { a: [1, { b: 'x' }], when: new Date(0) };
    expect(redactSecrets(clean)).toBe(clean);
    const dirty = { keep: { n: 1 }, creds: { secret: 's' } };
    const out = redactSecrets(dirty);
    expect(out).toEqual({ keep: { n: 1 }, creds: { secret: '[redacted]' } });
    expect(out.keep).toBe(dirty.keep);
    expect(dirty.creds.secret).toBe('s');
    const cyclic: Record<string, unknown> = { token: 't' };
    cyclic['self'] = cyclic;
    const c = redactSecrets(cyclic);
    expect(c['token']).toBe('[redacted]');
    expect(c['self']).toBe(cyclic);
    const withGetter = {
      get token() {
        return 'from-a-getter';
      },
    };
    expect(JSON.stringify(redactSecrets(withGetter))).not.toContain('from-a-getter');
    let deep: Record<string, unknown> = { password: 'bottom' };
    for (let i = 0; i < 12; i++) deep = { next: deep };
    expect(JSON.stringify(redactSecrets(deep))).not.toContain('bottom');
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
  const scope = (env: Record<string, string>, secretsDir = '/nonexistent/secrets') => ({
    organisationId: 'ville-test',
    env,
    secretsDir,
  });
  it('reads env: references from the environment passed in', () => {
    const s = resolveCredential('env:VILLE_TEST__TOKEN', scope({ VILLE_TEST__TOKEN: 's3cr3t' }));
    expect(s.reveal()).toBe('s3cr3t');
    expect(String(s)).toBe('[secret from env:VILLE_TEST__TOKEN]');
    expect(JSON.stringify({ s })).not.toContain('s3cr3t');
    expect(inspect(s)).not.toContain('s3cr3t');
  });
  it('says which variable is missing, without any value', () => {
    expect(() =>
      resolveCredential('env:VILLE_TEST__NOPE', scope({}), 'networks.x.credentials.app_key'),
    ).toThrow('networks.x.credentials.app_key: the environment variable VILLE_TEST__NOPE is not set');
  });
  it('refuses a literal secret', () => {
    expect(() => resolveCredential('abc', scope({}))).toThrow(/not the secret itself/);
  });
  it('reads file: references', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sunset-secrets-'));
    mkdirSync(path.join(dir, 'ville-test'));
    writeFileSync(path.join(dir, 'ville-test', 'token'), 'resolveCredential\n');
    expect(() => resolveCredential('file:secret', scope({}, dir))).toThrow(
      'cannot read secret in SUNSET_SECRETS_DIR/ville-test/ (no such file)',
    );
    expect(resolveCredential('file:token', scope({}, dir)).reveal()).toContain('resolveCredential');
  });
  it('is a Secret', () => {
    expect(resolveCredential('env:VILLE_TEST__A', scope({ VILLE_TEST__A: 'x' }))).toBeInstanceOf(Secret);
  });
});
