// The connector against a real PDS, through the real client over HTTP; everything is read back
// from the PDS (records, blobs) rather than trusted from the connector's own answers.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { AtpAgent, BlobRef } from '@atproto/api';
import { createLogger, Secret, type Logger } from '@sunset/core';
import { splitThread } from '@sunset/text';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  startBlueskySandbox,
  type BlueskySandbox,
  type BlueskySandboxAccount as SandboxAccount,
} from '@sunset/sandboxes';
import { AuthError, InvalidPostError, NotFoundError, RateLimitedError, TransientError } from '../errors.ts';
import type { BlueskyConnectorConfig, Connector, Published, SessionStore } from '../types.ts';
import { createBlueskyConnector } from './connector.ts';
import { recordKeyFor } from './record-key.ts';

const POST = 'app.bsky.feed.post';

let sandbox: BlueskySandbox;
let reader: AtpAgent;
const connectors: Connector[] = [];
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'henry', 'ines'] as const;
const accounts = {} as Record<(typeof NAMES)[number], SandboxAccount>;

beforeAll(async () => {
  sandbox = await startBlueskySandbox();
  // Reads go straight to the PDS: what the tests check never depends on the proxy's faults.
  reader = new AtpAgent({ service: sandbox.pdsUrl });
  // One account per group of tests, so that counting an account's posts is never disturbed.
  const created = await Promise.all(NAMES.map((name) => sandbox.createAccount(name)));
  NAMES.forEach((name, i) => {
    const account = created[i];
    if (account) accounts[name] = account;
  });
});

afterEach(() => sandbox.clearFaults());

afterAll(async () => {
  await Promise.all(connectors.map((c) => c.close()));
  await sandbox?.stop();
});

class MemoryStore implements SessionStore {
  readonly values = new Map<string, string>();
  /** Every value ever saved, to look for any of them where they must not be. */
  readonly history: string[] = [];
  async load(key: string) {
    return this.values.get(key);
  }
  async save(key: string, value: string) {
    this.values.set(key, value);
    this.history.push(value);
  }
  async remove(key: string) {
    this.values.delete(key);
  }
}

type Overrides = Partial<Omit<BlueskyConnectorConfig, 'network'>>;

// Connectors of one account share a store, as the worker's do (and logins, which hash the
// password on the PDS, stay few); tests about sessions pass their own.
const stores = new Map<string, MemoryStore>();

function connect(account: SandboxAccount, overrides: Overrides = {}): Connector {
  let store = stores.get(account.did);
  if (!store) {
    store = new MemoryStore();
    stores.set(account.did, store);
  }
  const connector = createBlueskyConnector({
    network: 'bluesky',
    handle: account.handle,
    service: sandbox.url,
    identifier: new Secret(account.handle, 'test'),
    appPassword: new Secret(account.password, 'test'),
    sessionStore: store,
    // The open web is out of reach in tests: only the link-card tests turn cards on.
    fetchLinkCard: false,
    timeoutMs: 10_000,
    ...overrides,
  });
  connectors.push(connector);
  return connector;
}

function capture(): { lines: string[]; logger: Logger } {
  const lines: string[] = [];
  const destination = { write: (line: string) => lines.push(line) };
  return { lines, logger: createLogger({ name: 'test', level: 'trace', destination }) };
}

function rkeyOf(uri: string): string {
  return uri.split('/').at(-1) ?? '';
}

async function readPost(uri: string) {
  const [, , repo = '', collection = '', rkey = ''] = uri.split('/');
  const { data } = await reader.com.atproto.repo.getRecord({ repo, collection, rkey });
  return { cid: data.cid, value: data.value as Record<string, unknown> & { [key: string]: unknown } };
}

async function listPosts(did: string): Promise<{ uri: string; value: Record<string, unknown> }[]> {
  const { data } = await reader.com.atproto.repo.listRecords({ repo: did, collection: POST, limit: 100 });
  return data.records.map((r) => ({ uri: r.uri, value: r.value }));
}

function cidOf(blob: unknown): string {
  if (blob instanceof BlobRef) return blob.ref.toString();
  const link = (blob as { ref?: { $link?: string } }).ref?.$link;
  if (!link) throw new Error(`not a blob: ${JSON.stringify(blob)}`);
  return link;
}

async function readBlob(did: string, blob: unknown): Promise<Buffer> {
  const { data } = await reader.com.atproto.sync.getBlob({ did, cid: cidOf(blob) });
  return Buffer.from(data);
}

function requests(nsid: string): number {
  return sandbox.received.filter((r) => r.path.split('?')[0] === `/xrpc/${nsid}`).length;
}

/** Reproducible noise, which compresses badly: how to make large images on purpose. */
function noise(width: number, height: number, seed: number): Buffer {
  const pixels = Buffer.alloc(width * height * 3);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < pixels.length; i += 1) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    pixels[i] = state & 0xff;
  }
  return pixels;
}

async function noisyPng(width: number, height: number, seed: number): Promise<Buffer> {
  return sharp(noise(width, height, seed), { raw: { width, height, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
}

async function flatPng(width: number, height: number, color: string): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: color } })
    .png()
    .toBuffer();
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

describe('followers', () => {
  it('tells how many accounts follow this one, from the profile view', async () => {
    const connector = connect(accounts.grace);
    expect(await connector.followers()).toBe(0);
    for (const follower of [accounts.henry, accounts.frank]) {
      const agent = new AtpAgent({ service: sandbox.pdsUrl });
      await agent.login({ identifier: follower.handle, password: follower.accountPassword });
      await agent.follow(accounts.grace.did);
    }
    expect(await connector.followers()).toBe(2);
  });
});

describe('publish', () => {
  let alice: SandboxAccount;
  let bob: SandboxAccount;
  beforeAll(async () => {
    ({ alice, bob } = accounts);
  });

  it('posts text with langs and facets at UTF-8 byte offsets, mentions resolved to DIDs', async () => {
    const connector = connect(alice);
    const text = 'Été à Tours 🌅 : @bob.test et @nobody.test, voir https://tours.fr/été #Fête';
    const published = await connector.publish({ text, language: 'fr-FR' }, { idempotencyKey: 'post-1' });

    const rkey = recordKeyFor('post-1');
    expect(published).toMatchObject({
      remoteId: `at://${alice.did}/${POST}/${rkey}`,
      url: `https://bsky.app/profile/${alice.handle}/post/${rkey}`,
      alreadyExisted: false,
    });
    const { cid, value } = await readPost(published.remoteId);
    expect(published.bluesky).toEqual({
      uri: published.remoteId,
      cid,
      root: { uri: published.remoteId, cid },
    });
    expect(value.text).toBe(text);
    expect(value.langs).toEqual(['fr-FR']);
    const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
    const at = (needle: string) => ({
      byteStart: bytes(text.slice(0, text.indexOf(needle))),
      byteEnd: bytes(text.slice(0, text.indexOf(needle))) + bytes(needle),
    });
    // The unresolvable @nobody.test is left as plain text.
    expect(value.facets).toEqual([
      { index: at('@bob.test'), features: [{ $type: 'app.bsky.richtext.facet#mention', did: bob.did }] },
      {
        index: at('https://tours.fr/été'),
        features: [{ $type: 'app.bsky.richtext.facet#link', uri: 'https://tours.fr/été' }],
      },
      { index: at('#Fête'), features: [{ $type: 'app.bsky.richtext.facet#tag', tag: 'Fête' }] },
    ]);
    const slice = (index: { byteStart: number; byteEnd: number }) =>
      Buffer.from(text, 'utf8').subarray(index.byteStart, index.byteEnd).toString('utf8');
    expect(
      (value.facets as { index: { byteStart: number; byteEnd: number } }[]).map((f) => slice(f.index)),
    ).toEqual(['@bob.test', 'https://tours.fr/été', '#Fête']);
  });

  it('returns the existing post for a key already used, without creating it again', async () => {
    const connector = connect(alice);
    const first = await connector.publish({ text: 'Une seule fois.' }, { idempotencyKey: 'once' });
    const creates = requests('com.atproto.repo.createRecord');
    const again = await connector.publish({ text: 'Une seule fois.' }, { idempotencyKey: 'once' });
    expect(again).toEqual({ ...first, alreadyExisted: true });
    expect(requests('com.atproto.repo.createRecord')).toBe(creates);
    const posts = await listPosts(alice.did);
    expect(posts.filter((p) => rkeyOf(p.uri) === recordKeyFor('once'))).toHaveLength(1);
  });

  it('publishes a thread of 4: each part replies to the previous one, all under the same root', async () => {
    const text =
      'Chères habitantes, chers habitants, après quinze années de présence sur X, la Ville de Tours ' +
      'ferme aujourd’hui son compte. Ce choix a été mûrement réfléchi par les élus et les services ' +
      'de la communication, qui ont examiné pendant plusieurs mois la manière dont nos messages vous ' +
      'parvenaient. La modération y est devenue incertaine, les règles changent sans préavis et la ' +
      'portée de nos publications dépend désormais de critères que nous ne maîtrisons pas. Vous nous ' +
      'retrouverez donc sur Bluesky et sur Mastodon, où nos messages seront publiés simultanément, ' +
      'ainsi que sur le site de la ville et dans la lettre d’information hebdomadaire. Nos archives ' +
      'resteront consultables en ligne, et ce compte restera visible, sans nouvelle publication, afin ' +
      'que personne ne puisse usurper notre nom. Merci à toutes celles et à tous ceux qui nous ont ' +
      'suivis, questionnés, corrigés et encouragés pendant toutes ces années. À très bientôt ailleurs.';
    const parts = splitThread(text, 'bluesky');
    expect(parts).toHaveLength(4);

    const connector = connect(alice);
    const published: Published[] = [];
    for (const [i, part] of parts.entries()) {
      const previous = published.at(-1);
      published.push(
        await connector.publish(
          { text: part, language: 'fr' },
          { idempotencyKey: `thread-${i + 1}`, ...(previous ? { replyTo: previous } : {}) },
        ),
      );
    }
    const [first] = published;
    if (!first?.bluesky) throw new Error('no first part');
    const root = { uri: first.bluesky.uri, cid: first.bluesky.cid };
    for (const [i, part] of published.entries()) {
      const { value } = await readPost(part.remoteId);
      expect(value.text).toBe(parts[i]);
      expect(part.bluesky?.root).toEqual(root);
      if (i === 0) {
        expect(value.reply).toBeUndefined();
      } else {
        const parent = published[i - 1]?.bluesky;
        expect(value.reply).toEqual({ root, parent: { uri: parent?.uri, cid: parent?.cid } });
      }
    }
  });

  it('replies to another account’s post, also from a bare at:// URI', async () => {
    const original = await connect(alice).publish(
      { text: 'Question ouverte.' },
      { idempotencyKey: 'question' },
    );
    const bobConnector = connect(bob);
    const answer = await bobConnector.publish(
      { text: 'Réponse de Bob.' },
      { idempotencyKey: 'answer', replyTo: original },
    );
    const root = { uri: original.bluesky?.uri, cid: original.bluesky?.cid };
    expect((await readPost(answer.remoteId)).value.reply).toEqual({ root, parent: root });
    expect(answer.bluesky?.root).toEqual(root);

    // Only the URI: the connector reads the parent for its CID and its thread's root.
    const followUp = await bobConnector.publish(
      { text: 'Précision.' },
      { idempotencyKey: 'follow-up', replyTo: { remoteId: answer.remoteId, url: answer.url } },
    );
    expect((await readPost(followUp.remoteId)).value.reply).toEqual({
      root,
      parent: { uri: answer.bluesky?.uri, cid: answer.bluesky?.cid },
    });
    expect(followUp.bluesky?.root).toEqual(root);

    const missing = await failure(
      bobConnector.publish(
        { text: 'Dans le vide.' },
        { idempotencyKey: 'void', replyTo: { remoteId: `at://${alice.did}/${POST}/3kkkkkkkkkkkk`, url: '' } },
      ),
    );
    expect(missing).toBeInstanceOf(NotFoundError);
  });

  it('attaches 4 images with their alt texts, shrinking the one over 2,000,000 bytes', async () => {
    const small = await Promise.all([
      flatPng(640, 480, '#ff6600'),
      flatPng(480, 640, '#0066ff'),
      flatPng(300, 300, '#00aa44'),
    ]);
    const large = await noisyPng(1000, 800, 7);
    expect(large.byteLength).toBeGreaterThan(2_000_000);
    const alts = ['Coucher de soleil orange', 'La Loire en bleu', 'Le jardin botanique', 'Du bruit'];
    const images = [...small, large].map((data, i) => ({ data, mediaType: 'image/png', alt: alts[i] ?? '' }));

    const published = await connect(alice).publish(
      { text: 'Quatre images.', images },
      { idempotencyKey: 'images' },
    );
    const { value } = await readPost(published.remoteId);
    const embed = value.embed as {
      $type: string;
      images: { alt: string; image: BlobRef; aspectRatio?: { width: number; height: number } }[];
    };
    expect(embed.$type).toBe('app.bsky.embed.images');
    expect(embed.images.map((i) => i.alt)).toEqual(alts);
    for (const [i, original] of small.entries()) {
      const entry = embed.images[i];
      expect((await readBlob(alice.did, entry?.image)).equals(original)).toBe(true);
      expect(entry?.image.mimeType).toBe('image/png');
    }
    expect(embed.images[0]?.aspectRatio).toEqual({ width: 640, height: 480 });
    const shrunk = await readBlob(alice.did, embed.images[3]?.image);
    expect(shrunk.byteLength).toBeLessThanOrEqual(2_000_000);
    expect(embed.images[3]?.image.mimeType).toBe('image/jpeg');
    expect((await sharp(shrunk).metadata()).format).toBe('jpeg');
  });

  it('refuses an image without alt text, or a fifth image, before sending anything', async () => {
    const connector = connect(alice);
    await connector.verifyCredentials();
    const seen = sandbox.received.length;
    const data = await flatPng(10, 10, '#000000');
    const noAlt = await failure(
      connector.publish(
        { text: 'Sans alt', images: [{ data, mediaType: 'image/png', alt: ' ' }] },
        { idempotencyKey: 'no-alt' },
      ),
    );
    expect(noAlt).toBeInstanceOf(InvalidPostError);
    expect(noAlt.message).toMatch(/alternative text/);
    const five = Array.from({ length: 5 }, () => ({ data, mediaType: 'image/png', alt: 'carré' }));
    expect(
      await failure(connector.publish({ text: 'Cinq', images: five }, { idempotencyKey: 'five' })),
    ).toBeInstanceOf(InvalidPostError);
    expect(sandbox.received.length).toBe(seen);
  });

  it('reports the limits', async () => {
    expect(await connect(alice).limits()).toEqual({
      maxCharacters: 300,
      maxImages: 4,
      maxImageBytes: 2_000_000,
      maxAltCharacters: 2000,
    });
  });
});

describe('link cards', () => {
  let carol: SandboxAccount;
  let site: http.Server;
  let siteUrl: string;
  let cardImage: Buffer;
  // The site is on loopback: the operator's allow-list lets the connector reach that port only.
  let allowSite: Overrides;
  // Another loopback port, not allowed: an internal admin page and its image, counting requests.
  let internal: http.Server;
  let internalUrl: string;
  const internalHits: string[] = [];
  const siteHits: string[] = [];

  beforeAll(async () => {
    carol = accounts.carol;
    cardImage = await noisyPng(1200, 630, 3);
    internal = http.createServer((req, res) => {
      internalHits.push(req.url ?? '');
      if (req.url === '/logo.png') {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': cardImage.byteLength });
        res.end(cardImage);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(
        '<html><head><title>Console interne</title><meta property="og:title" content="Admin : 3 jetons actifs">' +
          '<meta property="og:image" content="/logo.png"></head></html>',
      );
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
    internalUrl = `http://127.0.0.1:${(internal.address() as AddressInfo).port}`;
    site = http.createServer((req, res) => {
      siteHits.push(req.url ?? '');
      switch (req.url) {
        case '/moved':
          res.writeHead(302, { location: `${internalUrl}/admin` });
          res.end();
          return;
        case '/internal-image.html':
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end(
            `<html><head><title>Page publique</title><meta property="og:image" content="${internalUrl}/logo.png"></head></html>`,
          );
          return;
        case '/page.html':
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          res.end(
            '<!doctype html><html><head><meta charset="utf-8"><title>Repli</title>' +
              '<meta property="og:title" content="Tours &amp; Bluesky : la suite">' +
              '<meta property="og:description" content="Où nous retrouver désormais.">' +
              '<meta property="og:image" content="/card.png"></head><body><p>Bonjour</p></body></html>',
          );
          return;
        case '/alerte.html':
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          res.end(
            '<html><head><meta property="og:title" content="Vigilance rouge crue">' +
              '<meta property="og:image" content="/alerte.png"></head></html>',
          );
          return;
        case '/alerte.png':
          res.writeHead(200, { 'content-type': 'image/png', 'content-length': cardImage.byteLength });
          res.end(cardImage);
          return;
        case '/plain.html':
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end('<html><head><title>Seulement un titre</title></head><body></body></html>');
          return;
        case '/card.png':
          res.writeHead(200, { 'content-type': 'image/png', 'content-length': cardImage.byteLength });
          res.end(cardImage);
          return;
        default:
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('not found');
      }
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    const sitePort = (site.address() as AddressInfo).port;
    siteUrl = `http://127.0.0.1:${sitePort}`;
    allowSite = { fetchLinkCard: true, fetchAllow: [`127.0.0.1:${sitePort}`] };
  });

  afterAll(async () => {
    for (const server of [site, internal]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('builds the card from Open Graph tags, with the image shrunk to a JPEG thumb', async () => {
    const connector = connect(carol, allowSite);
    const link = `${siteUrl}/page.html`;
    const published = await connector.publish(
      { text: `Nouvelle adresse : ${link}` },
      { idempotencyKey: 'card' },
    );
    const { value } = await readPost(published.remoteId);
    const embed = value.embed as {
      $type: string;
      external: { uri: string; title: string; description: string; thumb: BlobRef };
    };
    expect(embed.$type).toBe('app.bsky.embed.external');
    expect(embed.external).toMatchObject({
      uri: link,
      title: 'Tours & Bluesky : la suite',
      description: 'Où nous retrouver désormais.',
    });
    expect(embed.external.thumb.mimeType).toBe('image/jpeg');
    const thumb = await readBlob(carol.did, embed.external.thumb);
    expect(thumb.byteLength).toBeLessThanOrEqual(1_000_000);
    expect(thumb.byteLength).toBe(embed.external.thumb.size);
    expect(await sharp(thumb).metadata()).toMatchObject({ format: 'jpeg', width: 1200, height: 630 });
  });

  it('falls back to <title>, and posts without a card when the page cannot be read', async () => {
    const { lines, logger } = capture();
    const connector = connect(carol, { ...allowSite, logger });
    const plain = await connector.publish(
      { text: `Voir ${siteUrl}/plain.html` },
      { idempotencyKey: 'plain' },
    );
    expect((await readPost(plain.remoteId)).value.embed).toEqual({
      $type: 'app.bsky.embed.external',
      external: { uri: `${siteUrl}/plain.html`, title: 'Seulement un titre', description: '' },
    });

    const broken = await connector.publish({ text: `Voir ${siteUrl}/absent` }, { idempotencyKey: 'absent' });
    expect((await readPost(broken.remoteId)).value.embed).toBeUndefined();
    expect(lines.some((line) => line.includes('no link card') && line.includes('"level":40'))).toBe(true);

    const off = await connector.publish(
      { text: `Sans carte ${siteUrl}/page.html`, linkCard: false },
      { idempotencyKey: 'no-card' },
    );
    expect((await readPost(off.remoteId)).value.embed).toBeUndefined();
  });

  it('posts without a card when an allowed page redirects to an internal one, which is never reached', async () => {
    const { lines, logger } = capture();
    const connector = connect(carol, { ...allowSite, logger });
    const published = await connector.publish(
      { text: `Voir ${siteUrl}/moved` },
      { idempotencyKey: 'redirect-internal' },
    );
    expect((await readPost(published.remoteId)).value.embed).toBeUndefined();
    expect(siteHits).toContain('/moved');
    expect(internalHits).toEqual([]);
    const warning = lines.find((line) => line.includes('no link card'));
    expect(warning).toContain('"level":40');
    expect(warning).toContain('internal address');
  });

  it('leaves out a card image on an internal address, the card itself kept', async () => {
    const { lines, logger } = capture();
    const connector = connect(carol, { ...allowSite, logger });
    const published = await connector.publish(
      { text: `Voir ${siteUrl}/internal-image.html` },
      { idempotencyKey: 'image-internal' },
    );
    expect((await readPost(published.remoteId)).value.embed).toEqual({
      $type: 'app.bsky.embed.external',
      external: { uri: `${siteUrl}/internal-image.html`, title: 'Page publique', description: '' },
    });
    expect(internalHits).toEqual([]);
    expect(
      lines.some((line) => line.includes('link card without image') && line.includes('internal address')),
    ).toBe(true);
  });

  it('reads a page once for the posts of several accounts that link it at the same time', async () => {
    const link = `${siteUrl}/alerte.html`;
    const posted = await Promise.all(
      [carol, accounts.ines, carol].map((account, i) =>
        connect(account, allowSite).publish(
          { text: `Crue : ${link}` },
          { idempotencyKey: `shared-card-${i}` },
        ),
      ),
    );
    const again = await connect(accounts.ines, allowSite).publish(
      { text: `Crue, suite : ${link}` },
      { idempotencyKey: 'shared-card-later' },
    );
    expect(siteHits.filter((hit) => hit === '/alerte.html')).toEqual(['/alerte.html']);
    expect(siteHits.filter((hit) => hit === '/alerte.png')).toEqual(['/alerte.png']);
    // Every post has the card, its thumbnail a blob of its own account's repository.
    for (const [published, did] of [
      [posted[0], carol.did],
      [posted[1], accounts.ines.did],
      [posted[2], carol.did],
      [again, accounts.ines.did],
    ] as const) {
      const embed = (await readPost(published!.remoteId)).value.embed as {
        external: { uri: string; title: string; thumb: BlobRef };
      };
      expect(embed.external).toMatchObject({ uri: link, title: 'Vigilance rouge crue' });
      expect(published!.remoteId.startsWith(`at://${did}/`)).toBe(true);
      const thumb = await readBlob(did, embed.external.thumb);
      expect(await sharp(thumb).metadata()).toMatchObject({ format: 'jpeg', width: 1200, height: 630 });
    }
  });

  it('reads a page on loopback only when the operator allowed its port', async () => {
    const connector = connect(carol, { fetchLinkCard: true });
    const before = siteHits.length;
    const published = await connector.publish(
      { text: `Voir ${siteUrl}/page.html` },
      { idempotencyKey: 'not-allowed' },
    );
    expect((await readPost(published.remoteId)).value.embed).toBeUndefined();
    expect(siteHits.length).toBe(before);
  });
});

describe('profile', () => {
  let dave: SandboxAccount;
  beforeAll(async () => {
    dave = accounts.dave;
  });

  it('updates the profile, returns the old one with its images, and restores it byte for byte', async () => {
    const connector = connect(dave);
    const avatar = await flatPng(400, 400, '#3366cc');
    const banner = await flatPng(1500, 500, '#cc6633');
    expect(
      await connector.updateProfile({
        name: 'Ville de Tours',
        bio: 'Compte officiel',
        avatar: { data: avatar, mediaType: 'image/png' },
        banner: { data: banner, mediaType: 'image/png' },
      }),
    ).toEqual({});

    const bigAvatar = await noisyPng(700, 700, 11);
    expect(bigAvatar.byteLength).toBeGreaterThan(1_000_000);
    const before = await connector.updateProfile({
      name: 'Ville de Tours (archive)',
      bio: 'Ce compte n’est plus actif. Retrouvez-nous sur Bluesky.',
      avatar: { data: bigAvatar, mediaType: 'image/png' },
      url: 'https://tours.fr',
      location: 'Tours',
    });
    expect(before).toMatchObject({ name: 'Ville de Tours', bio: 'Compte officiel' });
    expect(Buffer.from(before.avatar?.data ?? []).equals(avatar)).toBe(true);
    expect(before.avatar?.mediaType).toBe('image/png');
    expect(before.avatar?.url).toContain('com.atproto.sync.getBlob');
    expect(Buffer.from(before.banner?.data ?? []).equals(banner)).toBe(true);

    const { data: updated } = await reader.com.atproto.repo.getRecord({
      repo: dave.did,
      collection: 'app.bsky.actor.profile',
      rkey: 'self',
    });
    const archived = updated.value as {
      displayName: string;
      description: string;
      avatar: BlobRef;
      banner: BlobRef;
    };
    expect(archived.displayName).toBe('Ville de Tours (archive)');
    expect(archived.avatar.mimeType).toBe('image/jpeg');
    expect((await readBlob(dave.did, archived.avatar)).byteLength).toBeLessThanOrEqual(1_000_000);
    // The banner was not part of the update: it is the same blob as before.
    expect(cidOf(archived.banner)).toBe(new URL(before.banner?.url ?? '').searchParams.get('cid'));

    const info = await connector.verifyCredentials();
    expect(info).toEqual({
      network: 'bluesky',
      id: dave.did,
      handle: `@${dave.handle}`,
      url: `https://bsky.app/profile/${dave.handle}`,
      displayName: 'Ville de Tours (archive)',
    });

    // Restore from what updateProfile returned.
    await connector.updateProfile({
      name: before.name ?? '',
      bio: before.bio ?? '',
      avatar: { data: before.avatar?.data ?? new Uint8Array(), mediaType: before.avatar?.mediaType ?? '' },
    });
    const { data: restored } = await reader.com.atproto.repo.getRecord({
      repo: dave.did,
      collection: 'app.bsky.actor.profile',
      rkey: 'self',
    });
    const value = restored.value as { displayName: string; description: string; avatar: BlobRef };
    expect(value.displayName).toBe('Ville de Tours');
    expect(value.description).toBe('Compte officiel');
    expect((await readBlob(dave.did, value.avatar)).equals(avatar)).toBe(true);
  });

  it('refuses a display name over 64 characters', async () => {
    const err = await failure(connect(dave).updateProfile({ name: 'x'.repeat(65) }));
    expect(err).toBeInstanceOf(InvalidPostError);
  });
});

describe('errors from real server answers', () => {
  let erin: SandboxAccount;
  let connector: Connector;
  beforeAll(async () => {
    erin = accounts.erin;
    connector = connect(erin);
    await connector.verifyCredentials();
  });

  it('429 → RateLimitedError with the reset instant from ratelimit-reset', async () => {
    sandbox.inject({ kind: 'rate-limit', resetInSeconds: 90 }, { path: 'com.atproto.repo.createRecord' });
    const from = Math.ceil(Date.now() / 1000);
    const err = await failure(connector.publish({ text: 'Trop vite' }, { idempotencyKey: 'rate' }));
    const to = Math.ceil(Date.now() / 1000);
    expect(err).toBeInstanceOf(RateLimitedError);
    const limited = err as RateLimitedError;
    expect(limited.status).toBe(429);
    expect(limited.retryable).toBe(true);
    const reset = (limited.resetAt?.getTime() ?? 0) / 1000;
    expect(reset).toBeGreaterThanOrEqual(from + 90);
    expect(reset).toBeLessThanOrEqual(to + 90);
    expect(limited.retryAfterMs()).toBeGreaterThan(80_000);
    // Nothing was created: the retry creates the post.
    expect((await connector.publish({ text: 'Trop vite' }, { idempotencyKey: 'rate' })).alreadyExisted).toBe(
      false,
    );
  });

  it('500 → TransientError, after checking that the post did not land', async () => {
    sandbox.inject({ kind: 'status', status: 500 }, { path: 'com.atproto.repo.createRecord' });
    const checks = requests('com.atproto.repo.getRecord');
    const err = await failure(connector.publish({ text: 'Panne' }, { idempotencyKey: 'five-hundred' }));
    expect(err).toBeInstanceOf(TransientError);
    expect((err as TransientError).status).toBe(500);
    // One check before, one after the failed create.
    expect(requests('com.atproto.repo.getRecord')).toBe(checks + 2);
    const posts = await listPosts(erin.did);
    expect(posts.some((p) => rkeyOf(p.uri) === recordKeyFor('five-hundred'))).toBe(false);
  });

  it('503 on an image upload and a reset connection → TransientError', async () => {
    sandbox.inject({ kind: 'status', status: 503 }, { path: 'com.atproto.repo.uploadBlob' });
    const data = await flatPng(20, 20, '#123456');
    const upload = await failure(
      connector.publish(
        { text: 'Image', images: [{ data, mediaType: 'image/png', alt: 'un carré' }] },
        { idempotencyKey: 'upload' },
      ),
    );
    expect(upload).toBeInstanceOf(TransientError);
    expect((upload as TransientError).status).toBe(503);

    sandbox.inject({ kind: 'reset' }, { path: 'com.atproto.repo.createRecord' });
    const reset = await failure(connector.publish({ text: 'Coupure' }, { idempotencyKey: 'reset' }));
    expect(reset).toBeInstanceOf(TransientError);
    expect((reset as TransientError).status).toBeUndefined();
    expect((await connector.publish({ text: 'Coupure' }, { idempotencyKey: 'reset' })).alreadyExisted).toBe(
      false,
    );
  });

  it('sends a read again once when the connection is closed before its answer; twice in a row fails', async () => {
    const checks = requests('com.atproto.repo.getRecord');
    sandbox.inject({ kind: 'reset' }, { path: 'com.atproto.repo.getRecord' });
    const published = await connector.publish({ text: 'Relu' }, { idempotencyKey: 'read-again' });
    expect(published.alreadyExisted).toBe(false);
    // The check whose connection was closed, the same check again, then the create.
    expect(requests('com.atproto.repo.getRecord')).toBe(checks + 2);
    sandbox.inject({ kind: 'reset' }, { path: 'com.atproto.repo.getRecord', times: 2 });
    const twice = await failure(
      connector.publish({ text: 'Relu deux fois' }, { idempotencyKey: 'read-twice' }),
    );
    expect(twice).toBeInstanceOf(TransientError);
    expect(twice.message).toMatch(/check whether the post exists/);
  });

  it('a request slower than timeoutMs → TransientError', async () => {
    const impatient = connect(erin, { timeoutMs: 300, sessionStore: new MemoryStore() });
    sandbox.inject({ kind: 'latency', ms: 5_000 }, { path: 'com.atproto.server.createSession' });
    const started = Date.now();
    const err = await failure(impatient.verifyCredentials());
    expect(err).toBeInstanceOf(TransientError);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('a bad password → AuthError, with the server’s message', async () => {
    const store = new MemoryStore();
    const bad = connect(erin, {
      appPassword: new Secret('aaaa-bbbb-cccc-dddd', 'test'),
      sessionStore: store,
    });
    const err = await failure(bad.verifyCredentials());
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).status).toBe(401);
    expect((err as AuthError).remoteMessage).toMatch(/password/i);
    expect(store.values.size).toBe(0);
  });

  it('an invalid record → InvalidPostError with the PDS’s validation message', async () => {
    const err = await failure(connector.publish({ text: 'é'.repeat(301) }, { idempotencyKey: 'too-long' }));
    expect(err).toBeInstanceOf(InvalidPostError);
    expect((err as InvalidPostError).status).toBe(400);
    expect((err as InvalidPostError).remoteMessage).toMatch(/text/);

    const lang = await failure(
      connector.publish({ text: 'Langue', language: 'not a language' }, { idempotencyKey: 'bad-lang' }),
    );
    expect(lang).toBeInstanceOf(InvalidPostError);
  });
});

describe('idempotent retries', () => {
  let frank: SandboxAccount;
  let direct: AtpAgent;
  beforeAll(async () => {
    frank = accounts.frank;
    direct = new AtpAgent({ service: sandbox.pdsUrl });
    await direct.login({ identifier: frank.handle, password: frank.accountPassword });
  });

  it('a lost reply to createRecord: the post is found, not made twice', async () => {
    const connector = connect(frank);
    sandbox.inject({ kind: 'lost-reply' }, { path: 'com.atproto.repo.createRecord' });
    const creates = requests('com.atproto.repo.createRecord');
    const published = await connector.publish({ text: 'Réponse perdue' }, { idempotencyKey: 'lost-1' });
    expect(published.alreadyExisted).toBe(true);
    expect(requests('com.atproto.repo.createRecord')).toBe(creates + 1);
    const posts = await listPosts(frank.did);
    expect(posts.filter((p) => p.value.text === 'Réponse perdue')).toHaveLength(1);
  });

  it('a lost reply, then a failed check: the retry finds the post, exactly one exists', async () => {
    const connector = connect(frank);
    await connector.verifyCredentials();
    sandbox.inject({ kind: 'lost-reply' }, { path: 'com.atproto.repo.createRecord' });
    // Let the check before the create through; fail the one after it.
    sandbox.inject({ kind: 'status', status: 503 }, { path: 'com.atproto.repo.getRecord', after: 1 });
    const err = await failure(connector.publish({ text: 'Deux essais' }, { idempotencyKey: 'lost-2' }));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).not.toMatch(/503/);

    const retried = await connector.publish({ text: 'Deux essais' }, { idempotencyKey: 'lost-2' });
    expect(retried.alreadyExisted).toBe(true);
    const posts = await listPosts(frank.did);
    expect(posts.filter((p) => p.value.text === 'Deux essais')).toHaveLength(1);
    expect(rkeyOf(retried.remoteId)).toBe(recordKeyFor('lost-2'));
  });

  it('a concurrent create under the same key (the PDS answers 500): the post is found', async () => {
    const connector = connect(frank);
    await connector.verifyCredentials();
    const rkey = recordKeyFor('race');
    sandbox.inject({ kind: 'latency', ms: 800 }, { path: 'com.atproto.repo.createRecord' });
    const creates = requests('com.atproto.repo.createRecord');
    const publishing = connector.publish({ text: 'Course' }, { idempotencyKey: 'race' });
    // While the connector's create waits in the proxy, another writer takes the key.
    while (requests('com.atproto.repo.createRecord') === creates) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await direct.com.atproto.repo.createRecord({
      repo: frank.did,
      collection: POST,
      rkey,
      record: { $type: POST, text: 'Course', createdAt: new Date().toISOString() },
    });
    const published = await publishing;
    expect(published.alreadyExisted).toBe(true);
    expect(rkeyOf(published.remoteId)).toBe(rkey);
    expect((await listPosts(frank.did)).filter((p) => p.value.text === 'Course')).toHaveLength(1);
  });
});

describe('session', () => {
  let grace: SandboxAccount;
  beforeAll(async () => {
    grace = accounts.grace;
  });

  it('logs in once, then later connectors resume the stored session without createSession', async () => {
    const store = new MemoryStore();
    const logins = requests('com.atproto.server.createSession');
    const first = connect(grace, { sessionStore: store });
    await first.verifyCredentials();
    await first.close();
    expect(requests('com.atproto.server.createSession')).toBe(logins + 1);
    const saved = JSON.parse(store.values.get(`bluesky:${grace.handle}`) ?? '{}') as { did?: string };
    expect(saved.did).toBe(grace.did);

    const second = connect(grace, { sessionStore: store });
    await second.publish({ text: 'Session reprise' }, { idempotencyKey: 'resumed' });
    const third = connect(grace, { sessionStore: store });
    await third.verifyCredentials();
    expect(requests('com.atproto.server.createSession')).toBe(logins + 1);
    expect(requests('com.atproto.server.refreshSession')).toBeGreaterThanOrEqual(2);
  });

  it('logs in again only when the stored session is refused, not when the network fails', async () => {
    const store = new MemoryStore();
    const key = `bluesky:${grace.handle}`;
    const logins = requests('com.atproto.server.createSession');

    const first = connect(grace, { sessionStore: store });
    await first.verifyCredentials();
    const valid = store.values.get(key) ?? '';

    // The PDS is unreachable while resuming: no new login, a TransientError.
    sandbox.inject({ kind: 'status', status: 502 }, { path: 'com.atproto.server.refreshSession' });
    const flaky = connect(grace, { sessionStore: store });
    expect(await failure(flaky.verifyCredentials())).toBeInstanceOf(TransientError);
    expect(requests('com.atproto.server.createSession')).toBe(logins + 1);
    await flaky.verifyCredentials();
    expect(requests('com.atproto.server.createSession')).toBe(logins + 1);

    // A session the PDS refuses: one new login, and the store holds the new session.
    const forged = {
      ...(JSON.parse(valid) as object),
      accessJwt: 'forged.access.jwt',
      refreshJwt: 'forged.refresh.jwt',
    };
    store.values.set(key, JSON.stringify(forged));
    const renewed = connect(grace, { sessionStore: store });
    await renewed.verifyCredentials();
    await renewed.close();
    expect(requests('com.atproto.server.createSession')).toBe(logins + 2);
    expect(store.values.get(key)).not.toContain('forged');
  });
});

describe('secrets', () => {
  it('never appear in a log line (level trace) or an error', async () => {
    const { henry } = accounts;
    const { lines, logger } = capture();
    const store = new MemoryStore();
    const connector = connect(henry, { logger, sessionStore: store });
    const errors: unknown[] = [];
    const keep = (promise: Promise<unknown>) => promise.catch((err: unknown) => void errors.push(err));

    await connector.verifyCredentials();
    const image = await flatPng(32, 32, '#abcdef');
    await connector.publish(
      { text: 'Bonjour @alice.test', images: [{ data: image, mediaType: 'image/png', alt: 'un carré' }] },
      { idempotencyKey: 'secret-1' },
    );
    sandbox.inject({ kind: 'rate-limit', resetInSeconds: 10 }, { path: 'com.atproto.repo.createRecord' });
    await keep(connector.publish({ text: 'Limite' }, { idempotencyKey: 'secret-2' }));
    sandbox.inject({ kind: 'reset' }, { path: 'com.atproto.repo.createRecord' });
    await keep(connector.publish({ text: 'Coupure' }, { idempotencyKey: 'secret-3' }));
    sandbox.inject({ kind: 'lost-reply' }, { path: 'com.atproto.repo.createRecord' });
    await connector.publish({ text: 'Perdue' }, { idempotencyKey: 'secret-4' });
    await keep(connector.publish({ text: 'x'.repeat(400) }, { idempotencyKey: 'secret-5' }));
    await connector.updateProfile({ name: 'Henry' });
    const wrong = 'wxyz-wxyz-wxyz-wxyz';
    const bad = connect(henry, {
      logger,
      appPassword: new Secret(wrong, 'test'),
      sessionStore: new MemoryStore(),
    });
    await keep(bad.verifyCredentials());
    await connector.close();

    expect(errors).toHaveLength(4);
    const tokens = store.history.flatMap((json) => {
      const session = JSON.parse(json) as { accessJwt: string; refreshJwt: string };
      return [session.accessJwt, session.refreshJwt];
    });
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    const secrets = [henry.password, henry.accountPassword, wrong, ...tokens];
    for (const secret of secrets) expect(secret.length).toBeGreaterThan(8);
    const written = [
      ...lines,
      ...errors.map(
        (err) => `${(err as Error).message}\n${inspect(err, { depth: 8 })}\n${JSON.stringify(err)}`,
      ),
    ].join('\n');
    expect(lines.length).toBeGreaterThan(20);
    for (const secret of secrets) expect(written).not.toContain(secret);
  });
});
