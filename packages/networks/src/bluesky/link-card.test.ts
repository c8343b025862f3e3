import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
      } else if (req.url === '/slow.html') {
        // Never answers: the time limit must end the wait.
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reads at most the size cap of a page', async () => {
    expect(await fetchPageCard(`${base}/big.html`)).toEqual({
      uri: `${base}/big.html`,
      title: 'Grande page',
      description: '',
    });
  });

  it('decodes the declared charset', async () => {
    expect((await fetchPageCard(`${base}/latin1.html`)).title).toBe('Fête');
  });

  it('refuses what is not an HTML page, a missing page, a slow page and a too large image', async () => {
    await expect(fetchPageCard(`${base}/data.json`)).rejects.toThrow(CardFetchError);
    await expect(fetchPageCard(`${base}/missing`)).rejects.toThrow(/404/);
    await expect(
      fetchPageCard(`${base}/slow.html`, undefined, { timeoutMs: 200, maxBytes: 1000 }),
    ).rejects.toThrow(/timeout|aborted/i);
    await expect(
      fetchCardImage(`${base}/huge.png`, undefined, { timeoutMs: 2000, maxBytes: 100_000 }),
    ).rejects.toThrow(CardFetchError);
    await expect(fetchPageCard('file:///etc/passwd')).rejects.toThrow(CardFetchError);
  });
});
