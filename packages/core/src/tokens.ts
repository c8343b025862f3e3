/**
 * API tokens: shown once when made, kept only as a hash. A token reads `sunset_<43 characters>`
 * so that secret scanners and people can tell what it is; the prefix carries no secret.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_PREFIX = 'sunset_';
const TOKEN_SHAPE = /^sunset_[A-Za-z0-9_-]{43}$/;

export function mintToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** sha256 hex: tokens are long random values, so a fast hash is enough (no dictionary to guess from). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function looksLikeToken(value: string): boolean {
  return TOKEN_SHAPE.test(value);
}

/** Compares two hashes in constant time. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}
