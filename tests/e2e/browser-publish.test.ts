// From the dashboard to the networks: the API and the worker as processes of their own, the three
// sandboxes, Debian's chromium (playwright-core). An editor composes a post with an image and its
// alt text, sees each network's preview and sends it for now; the plan wants a second person, who
// approves it in the Approvals screen and watches it land: each network's state and link. The
// sandboxes are then read back: the text and the alt text are there, at the links the page gave.
// Once in French, once in English.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hashToken, mintToken } from '@sunset/core';
import { applyPlan } from '@sunset/engine';
import { freePort } from '@sunset/queue/testing';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_ENTRY,
  iso,
  ORG,
  PlanFolder,
  postedTexts,
  startSandboxes,
  startService,
  startWorkerProcess,
  testRedis,
  waitFor,
  type Sandboxes,
  type ServiceProcess,
  type TestRedis,
} from '../support/exit-harness.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
// A 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);
/** Each language's run: the browser's locale, the words the dashboard shows, a text of its own. */
const RUNS = [
  {
    locale: 'fr-FR',
    text: 'La médiathèque ouvre le dimanche à partir du 4 janvier.',
    alt: 'La façade vitrée de la médiathèque, éclairée à la tombée de la nuit.',
    words: {
      compose: 'Rédiger',
      textLabel: 'Texte de la publication',
      images: 'Ajouter des images',
      altLabel: 'Texte de remplacement',
      send: 'Envoyer ou programmer',
      awaiting: /attend l’approbation/,
      approvals: 'Approbations',
      approve: 'Approuver et programmer',
      approved: /approuvée/,
      published: /publié/,
      seeOn: 'voir sur',
    },
  },
  {
    locale: 'en-GB',
    text: 'The library opens on Sundays from 4 January.',
    alt: "The library's glass front, lit at nightfall.",
    words: {
      compose: 'Compose',
      textLabel: 'Post text',
      images: 'Add images',
      altLabel: 'Alternative text',
      send: 'Send or schedule',
      awaiting: /waits for a second person's approval/,
      approvals: 'Approvals',
      approve: 'Approve and schedule',
      approved: /approved/,
      published: /published/,
      seeOn: 'see on',
    },
  },
] as const;

if (!HAVE_CHROMIUM) console.warn(`browser-publish.test.ts skipped: ${CHROMIUM} is missing`);

describe.skipIf(!HAVE_CHROMIUM)('a post composed in the dashboard, published on the sandboxes', () => {
  let sandboxes: Sandboxes;
  let t: TestStore;
  let redis: TestRedis;
  let plans: PlanFolder;
  let base: string;
  let browser: Browser;
  const services: ServiceProcess[] = [];
  const tokens: Record<string, string> = {};
  const pageErrors: string[] = [];

  const newPage = async (locale: string) => {
    const context = await browser.newContext({
      locale,
      timezoneId: 'Europe/Paris',
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    return page;
  };
  const signIn = async (page: Page, token: string) => {
    await page.goto(base);
    await page.locator('#token').fill(token);
    await page.locator('#sign-in-form button[type=submit]').click();
    await expect.poll(() => page.locator('#session').isVisible()).toBe(true);
  };
  const axe = async (page: Page, view: string) => {
    await page.evaluate(AXE);
    const found = (await page.evaluate(
      `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`,
    )) as string[];
    expect(found, `axe on ${view}`).toEqual([]);
  };

  beforeAll(async () => {
    sandboxes = await startSandboxes();
    t = await openTestStore('sqlite');
    redis = testRedis();
    plans = new PlanFolder(sandboxes);
    const document = plans.document({ sunset: iso(Date.now() + 30 * 86_400_000), posts: [] });
    document['mirror'] = {
      before_sunset: ['x', 'bluesky', 'mastodon'],
      after_sunset: ['bluesky', 'mastodon'],
      approval: 'second-person',
    };
    await applyPlan({ store: t.store, plan: plans.writeDocument(document), actor: 'cli:test' });
    for (const person of ['alice', 'bob']) {
      const secret = mintToken();
      await t.store.tokens.create({
        id: `tok-${person}`,
        organisationId: ORG,
        name: `redaction-${person}`,
        person,
        role: 'editor',
        hash: hashToken(secret),
        createdBy: 'cli:test',
      });
      tokens[person] = secret;
    }
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const common = {
      DATABASE_URL: t.url,
      REDIS_URL: redis.url,
      SUNSET_QUEUE_PREFIX: redis.prefix,
      SUNSET_DATA_DIR: plans.dir,
      SUNSET_SECRETS_DIR: sandboxes.secretsDir,
      LOG_LEVEL: 'warn',
    };
    services.push(
      startService(API_ENTRY, { ...common, SUNSET_API_PORT: String(port), SUNSET_PLANS_DIR: plans.dir }),
      startWorkerProcess(sandboxes, { storeUrl: t.url, redis, dir: plans.dir }),
    );
    for (const service of services)
      service.child.on('exit', (code, signal) => {
        if (signal === null && code !== 0)
          process.stderr.write(`a service exited with ${code}:\n${service.output().slice(-4000)}\n`);
      });
    await waitFor(
      'the API to be ready',
      async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200,
      60_000,
      200,
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    for (const { child } of services) {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
    await redis?.cleanup();
    await t?.cleanup();
    plans?.remove();
    await sandboxes?.stop();
  });

  it.each(RUNS)(
    'composes, is approved by a second person, and shows each network’s link to what it holds ($locale)',
    async ({ locale, text: TEXT, alt: ALT, words }) => {
      const alice = await newPage(locale);
      await signIn(alice, tokens['alice']!);
      await alice.getByRole('link', { name: words.compose, exact: true }).click();
      await alice.getByLabel(words.textLabel).fill(TEXT);
      await alice
        .getByLabel(words.images)
        .setInputFiles({ name: 'mediatheque.png', mimeType: 'image/png', buffer: PNG });
      await alice.getByLabel(words.altLabel, { exact: true }).fill(ALT);
      const preview = alice.locator('#compose-preview');
      await expect.poll(() => preview.locator('article').count()).toBe(3);
      await expect.poll(() => preview.textContent()).toContain(ALT);
      expect(await preview.textContent()).toContain(TEXT);
      await alice.getByRole('button', { name: words.send }).click();
      await expect.poll(() => alice.locator('#compose-result').textContent()).toMatch(words.awaiting);
      const id = ((await alice.locator('#compose-result .post-id').textContent()) ?? '').trim();
      expect(id).toMatch(/^p-/);
      // Nothing goes out before the second person.
      expect((await postedTexts(sandboxes)).mastodon).not.toContain(TEXT);

      const bob = await newPage(locale);
      await signIn(bob, tokens['bob']!);
      await bob.getByRole('link', { name: words.approvals }).click();
      const card = bob.locator(`#approvals-list article[data-key="post:${id}"]`);
      await expect.poll(() => card.locator('article.preview-network').count()).toBe(3);
      expect(await card.textContent()).toContain(ALT);
      await card.getByRole('button', { name: words.approve }).click();
      await expect.poll(() => bob.getByRole('status').textContent()).toMatch(words.approved);

      const links: Record<string, string> = {};
      for (const [network, label] of [
        ['x', 'X'],
        ['bluesky', 'Bluesky'],
        ['mastodon', 'Mastodon'],
      ] as const) {
        const line = card.locator(`.approve-result li[data-network="${network}"]`);
        await expect.poll(() => line.textContent(), { timeout: 60_000 }).toMatch(words.published);
        const link = line.getByRole('link', { name: new RegExp(`${words.seeOn} ${label}`) });
        links[network] = (await link.getAttribute('href')) ?? '';
      }
      await axe(bob, `approvals, published (${locale})`);

      // Read back from the networks themselves: the text, the alt text, at the links shown.
      const posted = await postedTexts(sandboxes);
      expect(posted.x).toContain(TEXT);
      expect(posted.bluesky).toContain(TEXT);
      expect(posted.mastodon).toContain(TEXT);
      const status = sandboxes.mastodon.statuses.find((s) => s.text === TEXT)!;
      expect(links['mastodon']).toContain(status.id);
      expect(
        sandboxes.mastodon.media.filter((m) => status.mediaIds.includes(m.id)).map((m) => m.description),
      ).toEqual([ALT]);
      const records = await sandboxes.pds.com.atproto.repo.listRecords({
        repo: sandboxes.blueskyDid,
        collection: 'app.bsky.feed.post',
      });
      const record = records.data.records.find((r) => (r.value as { text?: string }).text === TEXT)!;
      expect(links['bluesky']).toContain(record.uri.split('/').at(-1)!);
      expect(
        (record.value as { embed?: { images?: { alt: string }[] } }).embed?.images?.map((i) => i.alt),
      ).toEqual([ALT]);
      const tweet = sandboxes.x.posts.find((p) => p.text === TEXT)!;
      expect(links['x']).toContain(tweet.id);
      expect(pageErrors).toEqual([]);
    },
    180_000,
  );
});
