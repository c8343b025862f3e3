/**
 * A faster percent-encoding, and nonces, for twitter-api-v2's OAuth 1.0a signing: a patch of the
 * library's internals, kept because it still saves CPU on every X post (docs/performance-notes.md
 * has the measurement; README.md in this folder says how patches are kept honest).
 *
 * The library encodes each of the dozen values of every signature and header with
 * `encodeURIComponent` followed by five global regex replacements (for ! * ' ( ), which
 * encodeURIComponent leaves alone and RFC 3986 does not); the replacement gives the same text for
 * every input and makes the replacements only when one of the five occurs. Its nonce asks OpenSSL
 * for new random bytes on every request; `randomUUID` draws on a cache of them.
 *
 * The library exports no such setting: the helper's static method and its getNonce are replaced
 * on the module Node loads for `import 'twitter-api-v2'` (its CommonJS build, the package's
 * "main"). If that module is not where it was, the runtime signs as the library does and warns
 * once; x-signing.test.ts fails, naming the library's version, so an upgrade cannot drop the
 * patch unnoticed.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Logger } from '@sunset/core';

interface OAuth1HelperStatics {
  percentEncode(value: string): string;
  prototype: { getNonce?: () => string };
}

const RESERVED = /[!'()*]/;
const RESERVED_ALL = /[!'()*]/g;
const escapeReserved = (c: string): string => `%${c.charCodeAt(0).toString(16).toUpperCase()}`;

/** RFC 3986 percent-encoding (everything but ALPHA, DIGIT, "-", ".", "_", "~"). */
export function fastPercentEncode(value: string): string {
  const encoded = encodeURIComponent(value);
  return RESERVED.test(encoded) ? encoded.replace(RESERVED_ALL, escapeReserved) : encoded;
}

/** An OAuth nonce: 32 hex characters (122 random bits), from the cached random bytes of `randomUUID`. */
export function fastNonce(): string {
  return randomUUID().replaceAll('-', '');
}

/** Where the patched class lives inside twitter-api-v2 (its CommonJS build). */
export const OAUTH1_HELPER_MODULE = 'twitter-api-v2/dist/cjs/client-mixins/oauth1.helper.js';

/** The installed twitter-api-v2's version, for the messages that say the patch no longer fits. */
export function twitterApiVersion(): string {
  try {
    return (createRequire(import.meta.url)('twitter-api-v2/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The library's helper class, or undefined where its module is not found. */
export function libraryOAuth1Helper(): OAuth1HelperStatics | undefined {
  try {
    const required = createRequire(import.meta.url)(OAUTH1_HELPER_MODULE) as {
      OAuth1Helper?: OAuth1HelperStatics;
    };
    return typeof required.OAuth1Helper?.percentEncode === 'function' ? required.OAuth1Helper : undefined;
  } catch {
    return undefined;
  }
}

let installed: boolean | undefined;

/**
 * Puts fastPercentEncode and fastNonce in the library's place, once; true if both are in place.
 * Where the library's internals moved, signing stays the library's own (correct, only slower), and
 * the first caller's logger gets one warning.
 */
export function installFastSigning(logger?: Logger): boolean {
  if (installed === undefined) {
    const helper = libraryOAuth1Helper();
    const hasNonce = typeof helper?.prototype.getNonce === 'function';
    if (helper) helper.percentEncode = fastPercentEncode;
    if (helper && hasNonce) helper.prototype.getNonce = fastNonce;
    installed = helper !== undefined && hasNonce;
    if (!installed) {
      logger?.warn(
        { library: `twitter-api-v2@${twitterApiVersion()}`, module: OAUTH1_HELPER_MODULE },
        helper
          ? "twitter-api-v2's OAuth1Helper has no getNonce any more: nonces are the library's own"
          : "twitter-api-v2's OAuth1Helper is not where the signing patch expects it: signing is the library's own",
      );
    }
  }
  return installed;
}
