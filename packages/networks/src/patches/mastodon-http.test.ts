import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { MastoHttpError, MastoTimeoutError } from 'masto';
import { HttpConfigImpl } from 'masto/adapters/config/index.js';
import * as httpAdapters from 'masto/adapters/http/index.js';
import { getEncoding } from 'masto/adapters/http/get-encoding.js';
import { SerializerNativeImpl } from 'masto/adapters/serializers/index.js';
import type { Http, HttpRequestParams } from 'masto/interfaces/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeHttp } from './mastodon-http.ts';

const MASTO_VERSION = (createRequire(import.meta.url)('masto/package.json') as { version: string }).version;

/** What an upgrade of masto that moved or changed the replaced layer must be told. */
const MOVED = (what: string): string =>
  `masto@${MASTO_VERSION}: ${what}; packages/networks/src/patches/mastodon-http.ts replaces masto's ` +
  'HTTP layer for JSON requests and must follow the library or be removed (see patches/README.md)';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

describe("masto's HTTP layer, replaced for JSON requests", () => {
  let server: Server;
  let url: string;
  const seen: Seen[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        const path = (req.url ?? '').split('?')[0];
        if (path === '/api/v1/slow') return; // answered never: the client's time limit decides
        if (path === '/api/v1/missing') {
          res.writeHead(404, { 'content-type': 'application/json', 'x-ratelimit-reset': '2030-01-01' });
          res.end(JSON.stringify({ error: 'Record not found', error_description: 'gone' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'x-seen': 'yes' });
        res.end(JSON.stringify({ id: '1', created_at: 'now', echo: chunks.length ? 'body' : 'none' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** masto's own layer and the replacement, configured alike. */
  function both(timeout?: number): { masto: Http; ours: Http } {
    const serializer = new SerializerNativeImpl();
    const props = { url, accessToken: 'token-1', ...(timeout ? { timeout } : {}) };
    const config = new HttpConfigImpl(props, serializer);
    const masto = new httpAdapters.HttpNativeImpl(serializer, config);
    return { masto, ours: new NodeHttp(serializer, config, props, masto) };
  }

  it('finds the parts of masto it is built from', () => {
    expect(httpAdapters.BaseHttp, MOVED('BaseHttp is no longer exported by adapters/http')).toBeTypeOf(
      'function',
    );
    expect(
      httpAdapters.HttpNativeImpl,
      MOVED('HttpNativeImpl is no longer exported by adapters/http'),
    ).toBeTypeOf('function');
    expect(getEncoding, MOVED('adapters/http/get-encoding.js no longer exports getEncoding')).toBeTypeOf(
      'function',
    );
    expect(
      HttpConfigImpl.prototype.resolvePath,
      MOVED('HttpConfigImpl has no resolvePath any more'),
    ).toBeTypeOf('function');
  });

  it("sends what masto's own layer sends, and reads the answer as it does", async () => {
    const { masto, ours } = both();
    const params: HttpRequestParams = {
      method: 'POST',
      path: '/api/v1/statuses',
      search: { a: 'b' },
      body: { status: 'Bonjour', language: 'fr' },
      requestInit: { headers: { 'Idempotency-Key': 'k-1' } },
    };
    seen.length = 0;
    const theirs = await masto.request(params);
    const mine = await ours.request(params);
    expect(mine.data, MOVED('the answer read differs')).toEqual(theirs.data);
    expect(mine.headers.get('x-seen')).toBe('yes');
    const [a, b] = seen;
    expect(b?.method).toBe(a?.method);
    expect(b?.url, MOVED('the URL sent differs')).toBe(a?.url);
    expect(JSON.parse(b?.body ?? ''), MOVED('the JSON body sent differs')).toEqual(JSON.parse(a?.body ?? ''));
    for (const header of ['authorization', 'content-type', 'idempotency-key']) {
      expect(b?.headers[header], MOVED(`the ${header} header sent differs`)).toBe(a?.headers[header]);
    }
  });

  it("throws masto's errors for an error answer and a time limit", async () => {
    const { masto, ours } = both(200);
    const fail = (http: Http, path: string) =>
      http.request({ method: 'GET', path }).then(
        () => undefined,
        (err: unknown) => err,
      );
    const [theirs, mine] = [await fail(masto, '/api/v1/missing'), await fail(ours, '/api/v1/missing')];
    expect(theirs).toBeInstanceOf(MastoHttpError);
    expect(mine, MOVED('an error answer no longer gives the same error')).toBeInstanceOf(MastoHttpError);
    const [t, m] = [theirs as MastoHttpError, mine as MastoHttpError];
    expect([m.statusCode, m.message, m.description]).toEqual([t.statusCode, t.message, t.description]);
    expect((m.cause as Response).headers.get('x-ratelimit-reset')).toBe('2030-01-01');
    expect(await fail(masto, '/api/v1/slow')).toBeInstanceOf(MastoTimeoutError);
    expect(await fail(ours, '/api/v1/slow')).toBeInstanceOf(MastoTimeoutError);
  });
});
