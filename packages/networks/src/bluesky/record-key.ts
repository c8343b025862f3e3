/**
 * Record keys derived from idempotency keys. Bluesky has no idempotency header, but a post's
 * record key can be chosen by the client and the PDS refuses (or answers 500 to) a second record
 * under the same key: a key that depends only on the delivery's idempotency key makes every
 * retry, after any crash, aim at the same record, which `getRecord` then finds.
 */
import { createHash } from 'node:crypto';
import { TID } from '@atproto/common-web';

/**
 * Posts (`app.bsky.feed.post`) must have TID keys: 53 bits of microseconds since 1970 and a
 * 10-bit clock id, in sortable base32. The timestamp is placed in a window that starts on
 * 2023-01-01 and lasts 2^46 µs (about 2 years and 3 months), so a derived key never looks like a
 * post from the future, where some services sort or drop records; the window's offset and the
 * clock id come from SHA-256 of the idempotency key: 56 bits, so two different keys share a
 * record key with odds of about 1 in 7·10^16 per pair.
 *
 * The key's time says nothing about when the post was made: `createdAt` in the record does.
 */
const WINDOW_START_US = Date.UTC(2023, 0, 1) * 1000;
const WINDOW_BITS = 46n;
const CLOCK_ID_BITS = 10n;

export function recordKeyFor(idempotencyKey: string): string {
  if (idempotencyKey.length === 0) throw new RangeError('an idempotency key cannot be empty');
  const digest = createHash('sha256').update(`sunset:bluesky:post:${idempotencyKey}`, 'utf8').digest();
  const bits = digest.readBigUInt64BE(0);
  const offset = bits >> (64n - WINDOW_BITS);
  const clockId = (bits >> (64n - WINDOW_BITS - CLOCK_ID_BITS)) & ((1n << CLOCK_ID_BITS) - 1n);
  return TID.fromTime(WINDOW_START_US + Number(offset), Number(clockId)).toString();
}
