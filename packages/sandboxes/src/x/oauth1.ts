/**
 * OAuth 1.0a HMAC-SHA1 signature checking (RFC 5849 §3.4), written from the RFC rather than
 * from the client library so that the sandbox catches a client that signs wrongly: a fake that
 * shared the client's code would accept its mistakes too.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** RFC 3986 percent-encoding as §3.6 requires: everything but ALPHA, DIGIT, "-", ".", "_", "~". */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Decodes application/x-www-form-urlencoded pairs, keeping repeats and order (§3.4.1.3.1). */
export function formPairs(raw: string): [string, string][] {
  if (raw === '') return [];
  return raw.split('&').map((part) => {
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? '' : part.slice(eq + 1);
    const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return [decode(name), decode(value)];
  });
}

/** The parameters of an `Authorization: OAuth k="v", …` header, percent-decoded (§3.5.1). */
export function parseOAuthHeader(header: string | undefined): Map<string, string> | undefined {
  if (!header) return undefined;
  const match = /^OAuth\s+(.*)$/is.exec(header.trim());
  if (!match?.[1]) return undefined;
  const params = new Map<string, string>();
  for (const item of match[1].split(',')) {
    const pair = /^\s*([^=\s]+)\s*=\s*"([^"]*)"\s*$/.exec(item);
    if (!pair?.[1] || pair[2] === undefined) return undefined;
    try {
      params.set(decodeURIComponent(pair[1]), decodeURIComponent(pair[2]));
    } catch {
      return undefined;
    }
  }
  return params;
}

/** §3.4.1.2: scheme and host lower-case, default port left out, path as sent, no query. */
export function baseStringUri(scheme: string, host: string, path: string): string {
  const lower = host.toLowerCase();
  const defaultPort = scheme.toLowerCase() === 'https' ? ':443' : ':80';
  const authority = lower.endsWith(defaultPort) ? lower.slice(0, -defaultPort.length) : lower;
  return `${scheme.toLowerCase()}://${authority}${path}`;
}

/** §3.4.1: METHOD & encoded base URI & encoded, sorted, normalised parameters. */
export function signatureBaseString(method: string, baseUri: string, params: [string, string][]): string {
  const encoded = params.map(([k, v]) => [percentEncode(k), percentEncode(v)] as const);
  // Sorted by encoded name, then encoded value, by byte order (§3.4.1.3.2).
  encoded.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  const normalized = encoded.map(([k, v]) => `${k}=${v}`).join('&');
  return `${method.toUpperCase()}&${percentEncode(baseUri)}&${percentEncode(normalized)}`;
}

/** §3.4.2: HMAC-SHA1 keyed with the encoded consumer secret and token secret, base64. */
export function hmacSha1Signature(baseString: string, consumerSecret: string, tokenSecret: string): string {
  const key = `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`;
  return createHmac('sha1', key).update(baseString).digest('base64');
}

export interface SignedRequest {
  method: string;
  scheme: string;
  host: string;
  path: string;
  /** The raw query string, without "?". */
  rawQuery: string;
  /** The raw body when it is application/x-www-form-urlencoded (only such bodies are signed). */
  rawFormBody?: string;
  authorization: string | undefined;
}

export type OAuthCheck =
  | { ok: true; consumerKey: string; token: string }
  | {
      ok: false;
      reason: 'malformed' | 'unknown-consumer' | 'unknown-token' | 'bad-signature' | 'stale' | 'replayed';
    };

export interface OAuthKeyring {
  consumerSecret(consumerKey: string): string | undefined;
  tokenSecret(consumerKey: string, token: string): string | undefined;
}

/** Verifies a request's signature; `seenNonce` reports (and records) replays. */
export function verifyOAuthRequest(
  request: SignedRequest,
  keys: OAuthKeyring,
  options: { now: number; seenNonce: (key: string) => boolean; maxSkewSeconds?: number },
): OAuthCheck {
  const header = parseOAuthHeader(request.authorization);
  const consumerKey = header?.get('oauth_consumer_key');
  const token = header?.get('oauth_token');
  const signature = header?.get('oauth_signature');
  const timestamp = header?.get('oauth_timestamp');
  const nonce = header?.get('oauth_nonce');
  if (!header || !consumerKey || !token || !signature || !timestamp || !nonce) {
    return { ok: false, reason: 'malformed' };
  }
  if (header.get('oauth_signature_method') !== 'HMAC-SHA1') return { ok: false, reason: 'malformed' };
  const version = header.get('oauth_version');
  if (version !== undefined && version !== '1.0') return { ok: false, reason: 'malformed' };

  const consumerSecret = keys.consumerSecret(consumerKey);
  if (consumerSecret === undefined) return { ok: false, reason: 'unknown-consumer' };
  const tokenSecret = keys.tokenSecret(consumerKey, token);
  if (tokenSecret === undefined) return { ok: false, reason: 'unknown-token' };

  let params: [string, string][];
  try {
    params = [
      ...[...header].filter(([k]) => k !== 'oauth_signature' && k !== 'realm'),
      ...formPairs(request.rawQuery),
      ...(request.rawFormBody === undefined ? [] : formPairs(request.rawFormBody)),
    ];
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const base = signatureBaseString(
    request.method,
    baseStringUri(request.scheme, request.host, request.path),
    params,
  );
  const expected = Buffer.from(hmacSha1Signature(base, consumerSecret, tokenSecret));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, reason: 'bad-signature' };
  }
  // Only a correctly signed request can burn a nonce, or anyone could block others' nonces.
  const skew = Math.abs(options.now / 1000 - Number(timestamp));
  if (!Number.isFinite(skew) || skew > (options.maxSkewSeconds ?? 300)) return { ok: false, reason: 'stale' };
  if (options.seenNonce(`${consumerKey}\u0000${token}\u0000${timestamp}\u0000${nonce}`)) {
    return { ok: false, reason: 'replayed' };
  }
  return { ok: true, consumerKey, token };
}
