import { TwitterApi } from 'twitter-api-v2';
import { describe, expect, it } from 'vitest';
import { startXSandbox } from '@sunset/sandboxes';
import { createXClient } from '../x/client.ts';
import {
  fastNonce,
  fastPercentEncode,
  installFastSigning,
  libraryOAuth1Helper,
  OAUTH1_HELPER_MODULE,
  twitterApiVersion,
} from './x-signing.ts';

/** What an upgrade of the library that moved the patched internals must be told. */
const MOVED = (what: string): string =>
  `twitter-api-v2@${twitterApiVersion()}: ${what} is no longer where packages/networks/src/patches/` +
  `x-signing.ts expects it (${OAUTH1_HELPER_MODULE}); X posts are signed the library's slower way ` +
  'until the patch follows the library or is removed (see patches/README.md)';

describe("twitter-api-v2's percent-encoding, made faster", () => {
  // Taken before anything replaces it.
  const helper = libraryOAuth1Helper();
  const original = helper?.percentEncode.bind(helper);

  it("finds the library's internals the patch replaces, on the module `import 'twitter-api-v2'` loads", () => {
    expect(TwitterApi).toBeTypeOf('function');
    expect(helper, MOVED('the OAuth1Helper class')).toBeDefined();
    expect(original, MOVED('OAuth1Helper.percentEncode')).toBeTypeOf('function');
    expect(helper?.prototype.getNonce, MOVED('OAuth1Helper.prototype.getNonce')).toBeTypeOf('function');
  });

  it("gives the library's text for every ASCII character, alone and in company", () => {
    for (let code = 0; code < 128; code++) {
      const c = String.fromCharCode(code);
      for (const value of [c, `a${c}b`, `${c}${c}`, `${c}!${c}*`]) {
        expect(fastPercentEncode(value)).toBe(original!(value));
      }
    }
  });

  it("gives the library's text beyond ASCII and for mixed text", () => {
    const samples = [
      '',
      "a b!*'()~._-é",
      'Fermeture de la piscine (travaux) : réouverture lundi !',
      '🔴 ALERTE gaz rue Nationale * évacuez *',
      'ﬁ ǅ ß İ Ω — “guillemets” « français »',
      'https://ville.example/actu?id=1&x=(2)',
      '1500000000000000001-x-access',
      String(Math.trunc(Date.now() / 1000)),
    ];
    for (const value of samples) expect(fastPercentEncode(value)).toBe(original!(value));
    // A lone surrogate cannot be encoded by either.
    expect(() => original!('\ud800')).toThrow(URIError);
    expect(() => fastPercentEncode('\ud800')).toThrow(URIError);
  });

  it('is put in place of the library’s, once', () => {
    expect(installFastSigning(), MOVED('OAuth1Helper')).toBe(true);
    expect(libraryOAuth1Helper()?.percentEncode).toBe(fastPercentEncode);
    expect(installFastSigning()).toBe(true);
  });

  it('makes nonces of 32 hex characters, never the same twice, in place of the library’s', () => {
    expect(installFastSigning()).toBe(true);
    expect(libraryOAuth1Helper()?.prototype.getNonce).toBe(fastNonce);
    const nonces = new Set(Array.from({ length: 10_000 }, () => fastNonce()));
    expect(nonces.size).toBe(10_000);
    for (const n of nonces) expect(n).toMatch(/^[0-9a-f]{32}$/);
  });

  it('signs the requests the client sends, and X (the sandbox) accepts the signatures', async () => {
    const sandbox = await startXSandbox();
    const tokens = {
      appKey: 'app-key',
      appSecret: "app secret (with *'!)",
      accessToken: '1500000000000000009-token',
      accessSecret: 'access secret ~ é',
    };
    sandbox.addAccount({ id: '1500000000000000009', username: 'Signe', name: 'Signé', ...tokens });
    const x = createXClient({ tokens, apiBase: sandbox.url, ca: sandbox.ca });
    const target = libraryOAuth1Helper()!;
    let calls = 0;
    target.percentEncode = (value) => {
      calls++;
      return fastPercentEncode(value);
    };
    try {
      const posted = await x.client.v2.tweet({ text: "Signé (avec des * et des ') !" });
      expect(posted.data.id).toMatch(/^\d+$/);
      expect(calls).toBeGreaterThan(5);
      expect(sandbox.posts.at(-1)?.text).toBe("Signé (avec des * et des ') !");
    } finally {
      target.percentEncode = fastPercentEncode;
      await sandbox.stop();
    }
  });
});
