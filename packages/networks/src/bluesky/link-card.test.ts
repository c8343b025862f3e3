import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuardedClient, FetchRefusedError, type GuardedClient } from '../http/guarded-client.ts';
import { CardFetchError, fetchCardImage, fetchPageCard, parseCard } from './link-card.ts';

describe('parseCard', () => {
  it('reads Open Graph tags, entities decoded, the image made absolute', () => {
    const html =
      '<html><head><title>Titre de repli</title>' +
      '<meta property="og:title" content="Crue de la Loire &amp; alertes">' +
      '<meta property="og:title" content="Second titre ignoré">' +
      '<meta property="og:description" content="  Niveaux\n  en   temps réel  ">' +
      '<meta property="og:image" content="../img/carte.png"></head><body></body></html>';
    expect(parseCard(html, 'https://tours.fr/infos/crue.html')).toEqual({
      title: 'Crue de la Loire & alertes',
      description: 'Niveaux en temps réel',
      imageUrl: 'https://tours.fr/img/carte.png',
    });
  });

  it('falls back to Twitter cards, then to <title> and the description meta', () => {
    expect(
      parseCard(
        '<head><meta name="twitter:title" content="Carte X"><meta name="twitter:image" content="https://cdn.example/i.jpg"><title>T</title></head>',
        'https://a.example/',
      ),
    ).toEqual({ title: 'Carte X', description: '', imageUrl: 'https://cdn.example/i.jpg' });
    expect(
      parseCard(
        '<head><title>Mairie &eacute;t&eacute;</title><meta name="description" content="Horaires"></head>',
        'https://a.example/',
      ),
    ).toEqual({ title: 'Mairie été', description: 'Horaires' });
  });

  it('ignores tags after the head', () => {
    expect(
      parseCard('<head></head><body><meta property="og:title" content="corps"></body>', 'https://a.example/'),
    ).toEqual({ title: '', description: '' });
  });
});

describe('fetching pages and images', () => {
  let server: http.Server;
  let base: string;
  // The test server is on loopback: allowed by the operator's setting, as in a deployment's tests.
  let client: GuardedClient;
  const head = '<html><head><meta property="og:title" content="Grande page"></head><body>';

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/big.html') {
        res.writeHead(200, { 'content-type': 'text/html' });
        // 3 MB: only the first megabyte is read, which holds the head.
        res.end(head + 'x'.repeat(3_000_000) + '</body></html>');
      } else if (req.url === '/latin1.html') {
        res.writeHead(200, { 'content-type': 'text/html; charset=iso-8859-1' });
        res.end(Buffer.from('<head><title>Fête</title></head>', 'latin1'));
      } else if (req.url === '/data.json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      } else if (req.url === '/huge.png') {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(Buffer.alloc(300_000));
      } else if (/^\/hops\/\d+$/.test(req.url ?? '')) {
        const left = Number(req.url?.split('/')[2]);
        if (left > 0) res.writeHead(302, { location: `/hops/${left - 1}` }).end();
        else res.writeHead(200, { 'content-type': 'text/html' }).end('<head><title>Arrivée</title></head>');
      } else if (req.url === '/slow.html') {
        // Never answers: the time limit must end the wait.
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
    client = createGuardedClient({ allow: [`127.0.0.1:${port}`] });
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reads at most the size cap of a page', async () => {
    expect(await fetchPageCard(`${base}/big.html`, { client })).toEqual({
      uri: `${base}/big.html`,
      title: 'Grande page',
      description: '',
    });
  });

  it('follows at most 3 redirects', async () => {
    expect((await fetchPageCard(`${base}/hops/3`, { client })).title).toBe('Arrivée');
    await expect(fetchPageCard(`${base}/hops/4`, { client })).rejects.toThrow(/more than 3 redirects/);
  });

  it('decodes the declared charset', async () => {
    expect((await fetchPageCard(`${base}/latin1.html`, { client })).title).toBe('Fête');
  });

  it('refuses what is not an HTML page, a missing page, a slow page and a too large image', async () => {
    await expect(fetchPageCard(`${base}/data.json`, { client })).rejects.toThrow(CardFetchError);
    await expect(fetchPageCard(`${base}/missing`, { client })).rejects.toThrow(/404/);
    await expect(
      fetchPageCard(`${base}/slow.html`, { client, limits: { timeoutMs: 200, maxBytes: 1000 } }),
    ).rejects.toThrow(/timeout|aborted/i);
    await expect(
      fetchCardImage(`${base}/huge.png`, { client, limits: { timeoutMs: 2000, maxBytes: 100_000 } }),
    ).rejects.toThrow(CardFetchError);
    await expect(fetchPageCard('file:///etc/passwd')).rejects.toThrow(CardFetchError);
  });
});

describe('internal addresses', () => {
  let internal: http.Server;
  let port: number;
  const hits: string[] = [];

  beforeAll(async () => {
    // Dual-stack, so that the IPv6 forms of loopback would reach it too.
    internal = http.createServer((req, res) => {
      hits.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<head><title>Admin interne</title><meta property="og:image" content="/secret.png"></head>');
    });
    await new Promise<void>((resolve) => internal.listen(0, '::', resolve));
    port = (internal.address() as AddressInfo).port;
  });

  afterAll(async () => {
    internal.closeAllConnections();
    await new Promise((resolve) => internal.close(resolve));
  });

  it('reads no card or image from loopback, whatever form the address takes', async () => {
    const hosts = [
      'localhost',
      '127.0.0.1',
      '2130706433',
      '0x7f000001',
      '127.1',
      '[::1]',
      '[::ffff:127.0.0.1]',
      '[::ffff:7f00:1]',
    ];
    for (const host of hosts) {
      const page = fetchPageCard(`http://${host}:${port}/admin`);
      await expect(page, host).rejects.toThrow(CardFetchError);
      expect(await page.catch((err: Error) => err.cause), host).toBeInstanceOf(FetchRefusedError);
      await expect(fetchCardImage(`http://${host}:${port}/secret.png`), host).rejects.toThrow(
        /internal address/,
      );
    }
    expect(hits).toEqual([]);
  });
});
