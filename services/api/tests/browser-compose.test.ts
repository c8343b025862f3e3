/**
 * The composer, the queue and the approvals in Debian's chromium (playwright-core) against the
 * real app on a real port, under its CSP: an editor composes a post with an image and its alt
 * text, sees each network's preview, schedules it, finds it in the queue (list, then week: on its
 * day in the plan's time zone, Monday first in French, Sunday first in US English) and edits it; a
 * second person approves it and sees exactly what each network gets. This fixture has no worker: the
 * approved post ends queued, with one delivery per network holding the edited text and the image.
 * axe-core runs on each of these views in French and in English and fails on any serious or
 * critical violation; a keyboard-only walk does compose → send → approve without the mouse.
 * Screenshots go to test-artifacts/ (20-rediger … 26-queue-week-en); the composer and the queue
 * (list and week), in French and English, are copied to docs/images/ for the README when
 * SUNSET_UPDATE_SCREENSHOTS=1.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashToken, mintToken } from '@sunset/core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORG, planYaml, startFixture, type Fixture } from './fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
// A 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);
const PLAN = planYaml().replace('mirror:\n', 'mirror:\n  approval: second-person\n');

if (!HAVE_CHROMIUM) console.warn(`browser-compose.test.ts skipped: ${CHROMIUM} is missing`);

describe.skipIf(!HAVE_CHROMIUM)(`composer, queue and approvals in ${CHROMIUM}`, () => {
  let f: Fixture;
  let browser: Browser;
  let base: string;
  const tokens: Record<string, string> = {};
  const pageErrors: string[] = [];

  const newPage = async (locale: 'fr-FR' | 'en-GB' | 'en-US' = 'fr-FR') => {
    const context = await browser.newContext({
      locale,
      timezoneId: 'Europe/Paris',
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/status of 4\d\d/.test(msg.text()))
        pageErrors.push(`console: ${msg.text()}`);
    });
    return page;
  };
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  const signIn = async (page: Page, token: string) => {
    await page.goto(base);
    await page.locator('#token').fill(token);
    await page.locator('#sign-in-form button[type=submit]').click();
    await expect.poll(() => page.locator('#session').isVisible()).toBe(true);
  };
  /** axe-core in the page (evaluated, so the page's CSP does not stop it): serious and critical only. */
  const axe = async (page: Page, view: string) => {
    if (!(await page.evaluate('typeof window.axe'))?.toString().includes('object')) await page.evaluate(AXE);
    const found = (await page.evaluate(
      `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`,
    )) as string[];
    expect(found, `axe on ${view}`).toEqual([]);
  };
  /** Presses Tab until the focus is on the element matching `selector`: reachable by keyboard alone. */
  const tabTo = async (page: Page, selector: string, max = 80) => {
    for (let i = 0; i < max; i++) {
      if (await page.evaluate(`document.activeElement?.matches(${JSON.stringify(selector)}) ?? false`))
        return;
      await page.keyboard.press('Tab');
    }
    throw new Error(`${selector} not reached by Tab`);
  };

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    f = await startFixture({}, PLAN);
    for (const [name, person] of [
      ['alice', 'alice'],
      ['bob', 'bob'],
    ]) {
      const secret = mintToken();
      await f.store.tokens.create({
        id: `${name}-id`,
        organisationId: ORG,
        name: `redaction-${name}`,
        person,
        role: 'editor',
        hash: hashToken(secret),
        createdBy: 'cli:test',
      });
      tokens[name!] = secret;
    }
    base = await f.app.listen({ host: '127.0.0.1', port: 0 });
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
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await f?.close();
    // Refreshed on request only, so that a test run leaves the tree as it found it.
    if (!process.env['SUNSET_UPDATE_SCREENSHOTS']) return;
    const docImages = fileURLToPath(new URL('../../../docs/images/', import.meta.url));
    mkdirSync(docImages, { recursive: true });
    for (const [from, to] of [
      ['20-rediger', 'dashboard-compose'],
      ['21-file', 'dashboard-queue'],
      ['24-compose-en', 'dashboard-compose-en'],
      ['22-approbation', 'dashboard-approval'],
      ['21-file-semaine', 'dashboard-queue-week'],
      ['26-queue-week-en', 'dashboard-queue-week-en'],
    ]) {
      const file = path.join(ARTIFACTS, `${from}.png`);
      if (existsSync(file)) copyFileSync(file, path.join(docImages, `${to}.png`));
    }
  });

  it('composes with an image, previews, schedules, edits from the queue; a second person approves', async () => {
    const alice = await newPage();
    await signIn(alice, tokens['alice']!);
    await alice.getByRole('link', { name: 'Rédiger' }).click();
    await expect.poll(() => alice.evaluate('document.activeElement?.id')).toBe('h-rediger');
    await alice.getByLabel('Texte de la publication').fill('Le marché de Noël ouvre samedi place Plumereau.');
    const preview = alice.locator('#compose-preview');
    await expect.poll(() => preview.locator('article').count()).toBe(3);
    expect(await preview.textContent()).toMatch(/Longueur : \d+\/280 caractères/);
    expect(await preview.locator('article[data-network="x"]').textContent()).toMatch(
      /Coût sur X : 0,015\sUSD/,
    );

    await alice
      .getByLabel('Ajouter des images')
      .setInputFiles({ name: 'IMG_1234.png', mimeType: 'image/png', buffer: PNG });
    const alt = alice.getByLabel('Texte de remplacement');
    await alt.fill('IMG_1234');
    expect(await alice.locator('#compose-alt-0-hint').textContent()).toMatch(/nom de fichier/);
    await alt.fill('Les chalets illuminés du marché, place Plumereau, à la nuit tombée.');
    await expect.poll(() => preview.textContent()).toContain('Les chalets illuminés');

    // After the sunset X is greyed out, and the page says why.
    await alice.getByLabel('À une date et une heure').check();
    await alice.getByLabel('Date et heure').fill('2099-02-01T10:30');
    await expect.poll(() => alice.locator('#compose-net-x').isDisabled()).toBe(true);
    expect(await alice.locator('#compose-net-x-why').textContent()).toMatch(
      /ne publie plus sur X après la fin/,
    );
    await expect.poll(() => preview.locator('article').count()).toBe(2);
    // The draft is kept in this browser meanwhile.
    expect(await alice.evaluate("JSON.parse(localStorage.getItem('sunset.draft.compose')).text")).toContain(
      'Plumereau',
    );
    await axe(alice, 'composer (fr)');
    await shot(alice, '20-rediger');

    await alice.getByRole('button', { name: 'Envoyer ou programmer' }).click();
    await expect.poll(() => alice.locator('#compose-result').textContent()).toMatch(/attend l’approbation/);
    const id = ((await alice.locator('#compose-result .post-id').textContent()) ?? '').trim();
    expect(id).toMatch(/^p-/);
    expect(await alice.evaluate("localStorage.getItem('sunset.draft.compose')")).toBeNull();
    const stored = (await f.store.posts.get(ORG, id))!.content as {
      at: string;
      networks: string[];
      images: { alt: string }[];
    };
    // 10:30 in Paris in February is 09:30 UTC.
    expect(stored.at).toBe('2099-02-01T09:30:00.000Z');
    expect(stored.networks).toEqual(['bluesky', 'mastodon']);
    expect(stored.images.map((i) => i.alt)).toEqual([
      'Les chalets illuminés du marché, place Plumereau, à la nuit tombée.',
    ]);

    await alice.getByRole('link', { name: 'Voir la file d’attente' }).click();
    const card = alice.locator(`#queue-list article[data-key="post:${id}"]`);
    await expect.poll(() => card.count()).toBe(1);
    expect(await card.textContent()).toMatch(/en attente d’approbation/);
    expect(await card.textContent()).toMatch(/1 févr\. 2099.*10:30/);
    await axe(alice, 'queue (fr)');
    await card.getByRole('button', { name: 'Modifier' }).click();
    await card.getByLabel('Nouveau texte').fill('Le marché de Noël ouvre samedi 14 place Plumereau.');
    await card.getByRole('button', { name: 'Enregistrer la modification' }).click();
    await expect.poll(() => alice.getByRole('status').textContent()).toMatch(/Publication modifiée/);
    await expect
      .poll(() => alice.locator(`#queue-list article[data-key="post:${id}"] .post-text`).textContent())
      .toBe('Le marché de Noël ouvre samedi 14 place Plumereau.');
    await shot(alice, '21-file');

    // The week view: Sunday 1 February 2099 closes a French week that starts on Monday 26 January.
    await alice.getByRole('button', { name: 'Semaine', exact: true }).click();
    await alice.getByLabel('Aller à la semaine du').fill('2099-02-01');
    const week = alice.locator('#queue-week');
    await expect
      .poll(() => week.locator('h2').textContent())
      .toMatch(/26 janv\. 2099.*1 févr\. 2099.*Europe\/Paris/);
    await expect.poll(() => alice.evaluate('document.activeElement?.id')).toBe('queue-week-title');
    const days = week.locator('.week-day');
    expect(await days.count()).toBe(7);
    expect(await days.first().locator('h3').textContent()).toMatch(/lundi 26 janvier/);
    expect(await days.nth(6).locator('h3').textContent()).toMatch(/dimanche 1 février/);
    const entry = days.nth(6).locator(`[data-key="post:${id}"]`);
    await expect.poll(() => entry.textContent()).toMatch(/^10:30/);
    expect(await entry.textContent()).toMatch(
      /samedi 14 place Plumereau[\s\S]*Bluesky : en attente d’approbation[\s\S]*Mastodon : en attente d’approbation/,
    );
    expect(await entry.textContent()).not.toMatch(/X :/);
    expect(await days.nth(5).textContent()).toMatch(/Rien ce jour-là/);
    await axe(alice, 'queue, week (fr)');
    await shot(alice, '21-file-semaine');
    // From the week's heading (where the focus goes) to the previous week with the keyboard alone.
    await tabTo(alice, '#queue-week-prev');
    await alice.keyboard.press('Enter');
    await expect.poll(() => week.locator('h2').textContent()).toMatch(/19 janv\. 2099.*25 janv\. 2099/);
    expect(await week.locator(`[data-key="post:${id}"]`).count()).toBe(0);
    await alice.getByRole('button', { name: 'Liste' }).click();
    expect(await week.isHidden()).toBe(true);

    // Alice cannot approve her own post: the approvals screen says so instead of a button.
    await alice.getByRole('link', { name: 'Approbations' }).click();
    const own = alice.locator(`#approvals-list article[data-key="post:${id}"]`);
    await expect.poll(() => own.textContent()).toMatch(/une autre personne doit l’approuver/);
    expect(await own.getByRole('button').count()).toBe(0);

    const bob = await newPage();
    await signIn(bob, tokens['bob']!);
    await bob.getByRole('link', { name: 'Approbations' }).click();
    const toApprove = bob.locator(`#approvals-list article[data-key="post:${id}"]`);
    await expect.poll(() => toApprove.locator('article.preview-network').count()).toBe(2);
    const seen = await toApprove.textContent();
    expect(seen).toContain('Le marché de Noël ouvre samedi 14 place Plumereau.');
    expect(seen).toContain('Les chalets illuminés');
    expect(seen).not.toMatch(/Coût sur X/);
    await axe(bob, 'approvals (fr)');
    await shot(bob, '22-approbation');
    await toApprove.getByRole('button', { name: 'Approuver et programmer' }).click();
    await expect.poll(() => bob.getByRole('status').textContent()).toMatch(/approuvée/);

    const deliveries = await f.store.deliveries.list({ organisationId: ORG, postId: id });
    expect(deliveries.map((d) => d.network).sort()).toEqual(['bluesky', 'mastodon']);
    for (const d of deliveries) {
      expect(d.status).toBe('queued');
      expect(d.parts[0]!.text).toBe('Le marché de Noël ouvre samedi 14 place Plumereau.');
      expect(d.parts[0]!.images.map((i) => i.alt)).toEqual([
        'Les chalets illuminés du marché, place Plumereau, à la nuit tombée.',
      ]);
      expect(d.dueAt.toISOString()).toBe('2099-02-01T09:30:00.000Z');
    }
    await bob.getByRole('link', { name: "File d'attente" }).click();
    const queued = bob.locator(`#queue-list article[data-key="post:${id}"]`);
    await expect.poll(() => queued.textContent()).toMatch(/Bluesky : en attente[\s\S]*Mastodon : en attente/);
    await shot(bob, '23-file-approuvee');
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('shows the composer, queue and approvals in English, with no serious axe violation', async () => {
    const page = await newPage('en-GB');
    await signIn(page, tokens['alice']!);
    await page.getByRole('link', { name: 'Compose' }).click();
    await page.getByLabel('Post text').fill('The Christmas market opens on Saturday.');
    await expect.poll(() => page.locator('#compose-preview article').count()).toBe(3);
    expect(await page.locator('#compose-preview').textContent()).toMatch(/Length: \d+\/280 characters/);
    expect(await page.locator('#compose-preview article[data-network="x"]').textContent()).toMatch(
      /Cost on X: US\$\s?0\.015|USD\s?0\.015/,
    );
    await axe(page, 'composer (en)');
    await shot(page, '24-compose-en');
    await page.getByRole('link', { name: 'Queue' }).click();
    await expect.poll(() => page.locator('#queue-list article').count()).toBeGreaterThan(0);
    await axe(page, 'queue (en)');

    // In the United States the week starts on Sunday: 1 February 2099 opens it.
    const us = await newPage('en-US');
    await signIn(us, tokens['bob']!);
    await us.getByRole('link', { name: 'Queue' }).click();
    await us.getByRole('button', { name: 'Week', exact: true }).click();
    await us.getByLabel('Go to the week of').fill('2099-02-01');
    const week = us.locator('#queue-week');
    await expect.poll(() => week.locator('h2').textContent()).toMatch(/1 Feb 2099 to 7 Feb 2099/);
    const first = week.locator('.week-day').first();
    expect(await first.locator('h3').textContent()).toMatch(/Sunday,? 1 February/);
    await expect.poll(() => first.locator('.week-item').count()).toBe(1);
    expect(await first.locator('.week-item').textContent()).toMatch(
      /^10:30[\s\S]*Bluesky : waiting[\s\S]*Mastodon : waiting/,
    );
    await axe(us, 'queue, week (en)');
    await shot(us, '26-queue-week-en');
    await page.getByRole('link', { name: 'Approvals' }).click();
    await expect
      .poll(() => page.locator('#approvals-list p, #approvals-list article').count())
      .toBeGreaterThan(0);
    await axe(page, 'approvals (en)');
    await shot(page, '25-approbation-en');
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('goes compose → send → approve with the keyboard alone', async () => {
    const alice = await newPage();
    await signIn(alice, tokens['alice']!);
    await alice.goto(`${base}/#/rediger`);
    await expect.poll(() => alice.locator('#compose-text').isVisible()).toBe(true);
    await alice.evaluate('document.getElementById("h-rediger").focus()');
    await tabTo(alice, '#compose-text');
    await alice.keyboard.type('Fermeture de la piscine lundi pour entretien.');
    await tabTo(alice, '#compose-when-now');
    await tabTo(alice, '#compose-send');
    await alice.keyboard.press('Enter');
    await expect.poll(() => alice.locator('#compose-result').textContent()).toMatch(/attend l’approbation/);
    const id = ((await alice.locator('#compose-result .post-id').textContent()) ?? '').trim();

    const bob = await newPage();
    await signIn(bob, tokens['bob']!);
    await bob.goto(`${base}/#/approbations`);
    const card = bob.locator(`#approvals-list article[data-key="post:${id}"]`);
    await expect.poll(() => card.getByRole('button').count()).toBe(1);
    await bob.evaluate('document.getElementById("h-approbations").focus()');
    await tabTo(bob, `#approvals-list article[data-key="post:${id}"] button`);
    await bob.keyboard.press('Enter');
    await expect.poll(() => bob.getByRole('status').textContent()).toMatch(/approuvée/);
    expect((await f.store.deliveries.list({ organisationId: ORG, postId: id })).length).toBe(3);
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
