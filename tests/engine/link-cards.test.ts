// Bluesky link cards through the worker runtime, as the operator configures it: a page on an
// allowed loopback port gets its card; one that redirects to another loopback port (an internal
// admin page with a title and an og:image) is published without a card and that server never
// hears from the worker; with link cards off, no page is fetched at all.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { applyPlan, OrgSettingsCache, postState, submitPost, type PostsContext } from '@sunset/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  iso,
  ORG,
  sandboxFetchAllow,
  startEngine,
  startSandboxes,
  waitFor,
  type Sandboxes,
  type TestEngine,
} from '../support/exit-harness.ts';

let sandboxes: Sandboxes;
let site: http.Server;
let siteHost: string;
let internal: http.Server;
const siteHits: string[] = [];
const internalHits: string[] = [];
const engines: TestEngine[] = [];

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  sandboxes = await startSandboxes();
  internal = http.createServer((req, res) => {
    internalHits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      '<html><head><title>Console interne</title><meta property="og:title" content="Admin : 3 jetons actifs">' +
        '<meta property="og:image" content="/logo.png"></head></html>',
    );
  });
  const internalHost = await listen(internal);
  site = http.createServer((req, res) => {
    siteHits.push(req.url ?? '');
    if (req.url === '/moved') {
      res.writeHead(302, { location: `http://${internalHost}/admin` });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html><head><title>Horaires de la mairie</title></head></html>');
  });
  siteHost = await listen(site);
});

afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await sandboxes?.stop();
  for (const server of [site, internal]) {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  }
});

/** An engine whose plan mirrors ordinary posts to Bluesky only, with these runtime settings. */
async function engineWith(runtime: { fetchAllow: string[]; linkCards?: boolean }): Promise<PostsContext> {
  const engine = await startEngine(sandboxes, { runtime: { concurrency: 1, ...runtime } });
  engines.push(engine);
  const doc = engine.plans.document({ sunset: iso(Date.now() + 3_600_000), posts: [] });
  doc['mirror'] = { before_sunset: ['bluesky'], after_sunset: ['bluesky'] };
  await applyPlan({
    store: engine.t.store,
    queues: engine.queues,
    plan: engine.plans.writeDocument(doc),
    actor: 'cli:test',
  });
  return { store: engine.t.store, queues: engine.queues, settings: new OrgSettingsCache(engine.t.store) };
}

/** Posts `text` to Bluesky through the engine and returns the record the PDS holds. */
async function publish(ctx: PostsContext, text: string): Promise<Record<string, unknown>> {
  const post = await submitPost(ctx, {
    organisationId: ORG,
    source: 'ordinary',
    text,
    actor: 'token:editor',
  });
  expect(post.deliveries.map((d) => d.network)).toEqual(['bluesky']);
  await waitFor(
    `"${text}" on Bluesky`,
    async () => (await postState(ctx.store, ORG, post.postId))?.networks.bluesky?.status === 'published',
    60_000,
  );
  const [delivery] = await ctx.store.deliveries.list({
    organisationId: ORG,
    postId: post.postId,
    network: 'bluesky',
  });
  const uri = delivery?.parts.at(-1)?.remoteId ?? '';
  const [, , repo = '', collection = '', rkey = ''] = uri.split('/');
  const { data } = await sandboxes.pds.com.atproto.repo.getRecord({ repo, collection, rkey });
  return data.value as Record<string, unknown>;
}

describe('link cards through the worker', () => {
  it('makes the card of an allowed page, and none for a redirect to an internal address', async () => {
    const ctx = await engineWith({ fetchAllow: [...sandboxFetchAllow(sandboxes), siteHost] });
    const allowed = await publish(ctx, `Nos horaires : http://${siteHost}/horaires`);
    expect(allowed.embed).toMatchObject({
      $type: 'app.bsky.embed.external',
      external: { uri: `http://${siteHost}/horaires`, title: 'Horaires de la mairie' },
    });

    const redirected = await publish(ctx, `Voir http://${siteHost}/moved`);
    expect(redirected.text).toBe(`Voir http://${siteHost}/moved`);
    expect(redirected.embed).toBeUndefined();
    expect(siteHits).toContain('/moved');
    expect(internalHits).toEqual([]);
  });

  it('fetches nothing when the operator turned link cards off', async () => {
    const ctx = await engineWith({
      fetchAllow: [...sandboxFetchAllow(sandboxes), siteHost],
      linkCards: false,
    });
    const before = siteHits.length;
    const record = await publish(ctx, `Sans carte : http://${siteHost}/horaires`);
    expect(record.embed).toBeUndefined();
    expect(siteHits.length).toBe(before);
    expect(internalHits).toEqual([]);
  });
});
