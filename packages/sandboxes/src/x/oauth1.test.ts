import { describe, expect, it } from 'vitest';
import {
  baseStringUri,
  formPairs,
  hmacSha1Signature,
  parseOAuthHeader,
  percentEncode,
  signatureBaseString,
  verifyOAuthRequest,
  type SignedRequest,
} from './oauth1.ts';

// The worked example of X's "Creating a signature" documentation, widely reproduced: a
// signature scheme written from the RFC must reproduce its base string and signature.
const DOC = {
  consumerKey: 'xvz1evFS4wEEPTGEFPHBog',
  consumerSecret: 'kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw',
  token: '370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb',
  tokenSecret: 'LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE',
  nonce: 'kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg',
  timestamp: '1318622958',
  status: 'Hello Ladies + Gentlemen, a signed OAuth request!',
};
const DOC_BASE_STRING =
  'POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521';
const DOC_SIGNATURE = 'hCtSmYh+iHYCEqBWrE7C7hYmtUk=';

function docHeader(signature: string): string {
  const params: [string, string][] = [
    ['oauth_consumer_key', DOC.consumerKey],
    ['oauth_nonce', DOC.nonce],
    ['oauth_signature', signature],
    ['oauth_signature_method', 'HMAC-SHA1'],
    ['oauth_timestamp', DOC.timestamp],
    ['oauth_token', DOC.token],
    ['oauth_version', '1.0'],
  ];
  return `OAuth ${params.map(([k, v]) => `${percentEncode(k)}="${percentEncode(v)}"`).join(', ')}`;
}

function docRequest(overrides: Partial<SignedRequest> = {}): SignedRequest {
  return {
    method: 'POST',
    scheme: 'https',
    host: 'api.twitter.com',
    path: '/1.1/statuses/update.json',
    rawQuery: 'include_entities=true',
    rawFormBody: `status=${encodeURIComponent(DOC.status).replace(/%20/g, '+')}`,
    authorization: docHeader(DOC_SIGNATURE),
    ...overrides,
  };
}

const keys = {
  consumerSecret: (key: string) => (key === DOC.consumerKey ? DOC.consumerSecret : undefined),
  tokenSecret: (key: string, token: string) =>
    key === DOC.consumerKey && token === DOC.token ? DOC.tokenSecret : undefined,
};
const at = { now: Number(DOC.timestamp) * 1000, seenNonce: () => false };

describe('OAuth 1.0a (RFC 5849)', () => {
  it("reproduces X's documented base string and signature", () => {
    const params: [string, string][] = [
      ['status', DOC.status],
      ['include_entities', 'true'],
      ['oauth_consumer_key', DOC.consumerKey],
      ['oauth_nonce', DOC.nonce],
      ['oauth_signature_method', 'HMAC-SHA1'],
      ['oauth_timestamp', DOC.timestamp],
      ['oauth_token', DOC.token],
      ['oauth_version', '1.0'],
    ];
    const base = signatureBaseString(
      'post',
      baseStringUri('HTTPS', 'API.Twitter.com:443', '/1.1/statuses/update.json'),
      params,
    );
    expect(base).toBe(DOC_BASE_STRING);
    expect(hmacSha1Signature(base, DOC.consumerSecret, DOC.tokenSecret)).toBe(DOC_SIGNATURE);
  });

  it('encodes as RFC 3986 asks, and decodes form bodies with + as a space', () => {
    expect(percentEncode("a b!*'()~._-é")).toBe('a%20b%21%2A%27%28%29~._-%C3%A9');
    expect(formPairs('a=1&b=x+y&a=%2B&c')).toEqual([
      ['a', '1'],
      ['b', 'x y'],
      ['a', '+'],
      ['c', ''],
    ]);
    expect(parseOAuthHeader('OAuth oauth_token="a%2Fb", realm="x"')?.get('oauth_token')).toBe('a/b');
    expect(parseOAuthHeader('Bearer abc')).toBeUndefined();
  });

  it('accepts the documented request and refuses every alteration of it', () => {
    expect(verifyOAuthRequest(docRequest(), keys, at)).toEqual({
      ok: true,
      consumerKey: DOC.consumerKey,
      token: DOC.token,
    });
    const refused = (overrides: Partial<SignedRequest>) =>
      verifyOAuthRequest(docRequest(overrides), keys, at);
    expect(refused({ rawQuery: 'include_entities=false' })).toEqual({ ok: false, reason: 'bad-signature' });
    expect(refused({ rawFormBody: 'status=Hello' })).toEqual({ ok: false, reason: 'bad-signature' });
    expect(refused({ path: '/1.1/statuses/destroy.json' })).toEqual({ ok: false, reason: 'bad-signature' });
    expect(refused({ method: 'GET' })).toEqual({ ok: false, reason: 'bad-signature' });
    expect(refused({ authorization: docHeader('AAAAAAAAAAAAAAAAAAAAAAAAAAA=') })).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(refused({ authorization: undefined })).toEqual({ ok: false, reason: 'malformed' });
    expect(
      refused({ authorization: docHeader(DOC_SIGNATURE).replace(DOC.consumerKey, 'someone-else') }),
    ).toEqual({ ok: false, reason: 'unknown-consumer' });
  });

  it('refuses stale timestamps and replayed nonces', () => {
    const late = { ...at, now: at.now + 10 * 60_000 };
    expect(verifyOAuthRequest(docRequest(), keys, late)).toEqual({ ok: false, reason: 'stale' });
    const seen = new Set<string>();
    const once = {
      ...at,
      seenNonce: (key: string) => {
        if (seen.has(key)) return true;
        seen.add(key);
        return false;
      },
    };
    expect(verifyOAuthRequest(docRequest(), keys, once).ok).toBe(true);
    expect(verifyOAuthRequest(docRequest(), keys, once)).toEqual({ ok: false, reason: 'replayed' });
  });
});
