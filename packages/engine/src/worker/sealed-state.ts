/**
 * Bluesky sessions (accessJwt, refreshJwt) at rest: AES-256-GCM under the operator's state key,
 * bound to their organisation and key name (the additional data), so that a row read from a
 * dump gives no session and a row copied to another organisation does not open there. A row
 * that does not open (written in clear before, or under another key) is dropped with a
 * warning: the connector logs in again.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Logger } from '@sunset/core';
import type { SessionStore } from '@sunset/networks';
import type { Store } from '@sunset/store';

const PREFIX = 'sealed:v1:';

function additionalData(organisationId: string, name: string): Buffer {
  return Buffer.from(`sunset/state/v1\0${organisationId}\0${name}`, 'utf8');
}

/** `sealed:v1:<iv>:<tag>:<ciphertext>`, base64url. */
export function sealState(key: Uint8Array, organisationId: string, name: string, value: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(additionalData(organisationId, name));
  const data = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return `${PREFIX}${iv.toString('base64url')}:${tag.toString('base64url')}:${data.toString('base64url')}`;
}

/** The value, or why it cannot be opened: 'clear' (not sealed) or 'key' (another key, organisation or name, or altered). */
export function openState(
  key: Uint8Array,
  organisationId: string,
  name: string,
  sealed: string,
): { value: string } | { refused: 'clear' | 'key' } {
  if (!sealed.startsWith(PREFIX)) return { refused: 'clear' };
  const [iv, tag, data] = sealed.slice(PREFIX.length).split(':');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv ?? '', 'base64url'));
    decipher.setAAD(additionalData(organisationId, name));
    decipher.setAuthTag(Buffer.from(tag ?? '', 'base64url'));
    const value = Buffer.concat([decipher.update(Buffer.from(data ?? '', 'base64url')), decipher.final()]);
    return { value: value.toString('utf8') };
  } catch {
    return { refused: 'key' };
  }
}

/**
 * The connectors' session store for one organisation, sealed under `key`. Without a key (tests,
 * tools that were given none) no session is kept at all: each connector logs in afresh, and a
 * session left in clear is removed.
 */
export function kvSessionStore(
  store: Store,
  organisationId: string,
  key?: Uint8Array,
  logger?: Logger,
): SessionStore {
  const name = (k: string) => `session.${k}`;
  return {
    async load(k) {
      const raw = await store.kv.get(organisationId, name(k));
      if (raw === undefined) return undefined;
      if (key) {
        const opened = openState(key, organisationId, name(k), raw);
        if ('value' in opened) return opened.value;
        logger?.warn(
          { organisationId, key: name(k) },
          opened.refused === 'clear'
            ? 'a stored session was kept in clear (before state encryption): dropped, logging in again'
            : 'a stored session does not open with this state key (another key or organisation): dropped, logging in again',
        );
      }
      await store.kv.delete(organisationId, name(k));
      return undefined;
    },
    async save(k, value) {
      if (!key) return;
      await store.kv.set(organisationId, name(k), sealState(key, organisationId, name(k), value));
    },
    remove: (k) => store.kv.delete(organisationId, name(k)),
  };
}
