/**
 * The key that encrypts the state kept in the store (Bluesky sessions): 32 bytes, given by the
 * operator as SUNSET_STATE_KEY (64 hex digits or base64) or SUNSET_STATE_KEY_FILE. Production
 * requires one; development without one gets a key file of its own, made once (0600) in the
 * data folder, so that sessions survive restarts there too.
 */
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

export const STATE_KEY_HELP = `  SUNSET_STATE_KEY              32 bytes (64 hex digits or base64) encrypting Bluesky sessions in the store;
                                required in production (make one: openssl rand -hex 32)
  SUNSET_STATE_KEY_FILE         a file holding that key instead (e.g. a Docker secret)`;

export interface StateKeySettings {
  /** SUNSET_STATE_KEY, as given. */
  value?: string;
  /** SUNSET_STATE_KEY_FILE. */
  file?: string;
  production: boolean;
}

export interface StateKey {
  key: Buffer;
  /** Where it came from, for the start-up log (never the key). */
  source: string;
}

/** 32 bytes from hex or base64 text, or undefined when it is not that. */
export function parseStateKey(text: string): Buffer | undefined {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const key = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
    if (key.length === 32) return key;
  }
  return undefined;
}

const WANTED = 'expected 32 bytes as 64 hex digits or base64 (make one: openssl rand -hex 32)';

/**
 * The state key, or the problem with its settings (one sentence naming the variable, never the
 * value); undefined in development when none is given (see developmentStateKey).
 */
export function readStateKey(s: StateKeySettings): StateKey | { problem: string } | undefined {
  if (s.value !== undefined && s.file !== undefined) {
    return { problem: 'SUNSET_STATE_KEY and SUNSET_STATE_KEY_FILE are both set: keep one' };
  }
  if (s.value !== undefined) {
    const key = parseStateKey(s.value);
    return key ? { key, source: 'SUNSET_STATE_KEY' } : { problem: `SUNSET_STATE_KEY: ${WANTED}` };
  }
  if (s.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(s.file, 'utf8');
    } catch (err) {
      return {
        problem: `SUNSET_STATE_KEY_FILE: cannot read ${s.file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      };
    }
    const key = parseStateKey(text);
    return key
      ? { key, source: `SUNSET_STATE_KEY_FILE ${s.file}` }
      : { problem: `SUNSET_STATE_KEY_FILE: ${s.file}: ${WANTED}` };
  }
  if (s.production) {
    return {
      problem:
        'SUNSET_STATE_KEY or SUNSET_STATE_KEY_FILE: required in production, to encrypt the Bluesky sessions kept in the store (make one: openssl rand -hex 32)',
    };
  }
  return undefined;
}

/**
 * Development without a key: the data folder's own key file, made on first use, readable by its
 * owner only (made at start-up, not while reading the configuration, which has no side effects).
 */
export function developmentStateKey(dataDir: string): StateKey | { problem: string } {
  const file = path.join(dataDir, 'state.key');
  try {
    mkdirSync(dataDir, { recursive: true });
    try {
      writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Made by an earlier run (or another process just now): tighten it if someone loosened it.
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    }
    const key = parseStateKey(readFileSync(file, 'utf8'));
    return key
      ? { key, source: `development key file ${file}` }
      : { problem: `${file}: ${WANTED}; delete it to have a new one made (Bluesky will log in again)` };
  } catch (err) {
    return {
      problem: `no SUNSET_STATE_KEY, and the development key file ${file} cannot be made (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    };
  }
}
