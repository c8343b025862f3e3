import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { developmentStateKey, parseStateKey } from './state-key.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the development state key', () => {
  it('is made once, 0600, in the data folder, and read back the same', () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'sunset-state-')), 'data');
    dirs.push(path.dirname(dir));
    const first = developmentStateKey(dir);
    if (!('key' in first)) throw new Error(first.problem);
    expect(first.key).toHaveLength(32);
    expect(statSync(path.join(dir, 'state.key')).mode & 0o777).toBe(0o600);
    const again = developmentStateKey(dir);
    expect('key' in again && again.key.equals(first.key)).toBe(true);
    // Loosened by someone: tightened again.
    chmodSync(path.join(dir, 'state.key'), 0o644);
    developmentStateKey(dir);
    expect(statSync(path.join(dir, 'state.key')).mode & 0o777).toBe(0o600);
  });

  it('refuses a key file that holds no key, without showing its content', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-state-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, 'state.key'), 'not-a-key-hunter2\n', { mode: 0o600 });
    const r = developmentStateKey(dir);
    expect('problem' in r && r.problem).toMatch(/state\.key: expected 32 bytes/);
    expect('problem' in r && r.problem).not.toContain('hunter2');
  });

  it('parses hex, base64 and base64url; nothing shorter or longer', () => {
    const key = Buffer.from('ff'.repeat(32), 'hex');
    expect(parseStateKey('ff'.repeat(32))?.equals(key)).toBe(true);
    expect(parseStateKey(key.toString('base64'))?.equals(key)).toBe(true);
    expect(parseStateKey(key.toString('base64url'))?.equals(key)).toBe(true);
    expect(parseStateKey('ff'.repeat(31))).toBeUndefined();
    expect(parseStateKey(Buffer.alloc(33).toString('base64'))).toBeUndefined();
  });
});
