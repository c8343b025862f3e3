import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { credentialScopeProblem, envPrefix, resolveCredential } from './credentials.ts';
import { resolveInside } from './inside-folder.ts';

/** A secrets folder with two organisations, the deployment's own file, and links out. */
function secretsFolder() {
  const dir = mkdtempSync(path.join(tmpdir(), 'sunset-scope-'));
  const ours = path.join(dir, 'ville-de-tours');
  mkdirSync(path.join(ours, 'x'), { recursive: true });
  mkdirSync(path.join(dir, 'ville-voisine'));
  writeFileSync(path.join(dir, 'postgres_password'), 'db-password\n');
  writeFileSync(path.join(dir, 'ville-voisine', 'token'), 'neighbour\n');
  writeFileSync(path.join(ours, 'x', 'token'), 'ours\n');
  symlinkSync('x/token', path.join(ours, 'relative-link'));
  symlinkSync(path.join(ours, 'x', 'token'), path.join(ours, 'absolute-link'));
  symlinkSync('../ville-voisine/token', path.join(ours, 'out'));
  symlinkSync('../nowhere/token', path.join(ours, 'dangling-out'));
  symlinkSync('loop-b', path.join(ours, 'loop-a'));
  symlinkSync('loop-a', path.join(ours, 'loop-b'));
  return { dir, ours };
}

describe('envPrefix', () => {
  it('upper-cases the organisation id, dashes as underscores, then __', () => {
    expect(envPrefix('ville-de-tours')).toBe('VILLE_DE_TOURS__');
    expect(envPrefix('region-bretagne')).toBe('REGION_BRETAGNE__');
  });
});

describe('credentialScopeProblem', () => {
  it('accepts only variables with the organisation prefix', () => {
    expect(credentialScopeProblem('env:VILLE_DE_TOURS__X_APP_KEY', 'ville-de-tours')).toBeUndefined();
    for (const outside of [
      'env:DATABASE_URL',
      'env:VILLE_DE_TOURS__',
      'env:VILLE_DE_TOURS_X_APP_KEY',
      'env:ville_de_tours__x',
      'env:VILLE__DE_TOURS__X',
      'env:VILLE_DE_TOURS_NORD__X',
    ]) {
      expect(credentialScopeProblem(outside, 'ville-de-tours'), outside).toBe(
        "ville-de-tours's plan may only name environment variables starting with VILLE_DE_TOURS__, e.g. env:VILLE_DE_TOURS__X_APP_KEY",
      );
    }
    // ville's prefix is VILLE__: ville-de-tours's variables are not ville's.
    expect(credentialScopeProblem('env:VILLE_DE_TOURS__X', 'ville')).toBeDefined();
  });

  it('refuses absolute and .. file names before looking at any file', () => {
    for (const outside of [
      'file:/run/secrets/postgres_password',
      'file:../x',
      'file:a/../../x',
      'file:a/..',
    ]) {
      expect(credentialScopeProblem(outside, 'ville-de-tours'), outside).toMatch(
        /^ville-de-tours's plan may only name files inside its own secrets folder \(SUNSET_SECRETS_DIR\/ville-de-tours\/\)/,
      );
    }
    expect(credentialScopeProblem('file:x/token', 'ville-de-tours')).toBeUndefined();
  });

  it('refuses an organisation id that could climb out of the folder', () => {
    expect(credentialScopeProblem('file:x', '..')).toMatch(/not an organisation id/);
    expect(credentialScopeProblem('env:A__X', 'a--b')).toMatch(/not an organisation id/);
  });
});

describe('resolveCredential in a secrets folder', () => {
  const { dir, ours } = secretsFolder();
  const scope = { organisationId: 'ville-de-tours', env: {}, secretsDir: dir };

  it('reads files and links that stay in the organisation folder', () => {
    expect(resolveCredential('file:x/token', scope).reveal()).toBe('ours');
    expect(resolveCredential('file:relative-link', scope).reveal()).toBe('ours');
    expect(resolveCredential('file:absolute-link', scope).reveal()).toBe('ours');
  });

  it('refuses links out with the message of a missing target: nothing tells them apart', () => {
    const out = () => resolveCredential('file:out', scope, 'k');
    const dangling = () => resolveCredential('file:dangling-out', scope, 'k');
    expect(out).toThrow(/^k: ville-de-tours's plan may only name files inside its own secrets folder/);
    let a = '';
    let b = '';
    try {
      out();
    } catch (err) {
      a = (err as Error).message;
    }
    try {
      dangling();
    } catch (err) {
      b = (err as Error).message;
    }
    expect(a).toBe(b);
    expect(a).not.toContain('neighbour');
    expect(a).not.toContain(dir);
  });

  it('refuses a loop; another organisation reads its own folder with the same name', () => {
    expect(() => resolveCredential('file:loop-a', scope)).toThrow(/only name files inside/);
    expect(() =>
      resolveCredential('file:token', { ...scope, organisationId: 'ville-voisine' }),
    ).not.toThrow();
    expect(resolveInside(ours, 'x/../x/token')).toEqual({
      kind: 'inside',
      file: path.join(ours, 'x', 'token'),
    });
  });
});

describe('resolveInside', () => {
  const { dir, ours } = secretsFolder();
  it('answers missing for an absent file inside, outside for anything that leaves', () => {
    expect(resolveInside(ours, 'absent')).toEqual({ kind: 'missing', file: path.join(ours, 'absent') });
    expect(resolveInside(ours, 'absent/../../x')).toEqual({ kind: 'outside' });
    expect(resolveInside(ours, path.join(ours, 'x', 'token'))).toEqual({ kind: 'outside' });
    expect(resolveInside(ours, '')).toEqual({ kind: 'outside' });
    expect(resolveInside(path.join(dir, 'no-such-org'), 'x')).toEqual({
      kind: 'missing',
      file: path.join(dir, 'no-such-org', 'x'),
    });
    expect(resolveInside(path.join(dir, 'no-such-org'), '../ville-de-tours/x/token')).toEqual({
      kind: 'outside',
    });
  });
});
