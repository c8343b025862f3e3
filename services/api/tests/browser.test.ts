/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) against the
 * real app on a real port: what a duty officer and an auditor do with it, end to end, under the
 * app's own CSP. Screenshots of every screen go to test-artifacts/; the timeline and the crisis
 * form are copied to docs/images/ for the README when SUNSET_UPDATE_SCREENSHOTS=1.
 *
 * Without /usr/bin/chromium the suite is skipped and says why (never a silent pass): CI installs
 * it from apt in .ci/run. Nothing here ever downloads a browser.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { feedIdOf } from '@sunset/engine/outbox';
import { rawSql } from '@sunset/store/testing';
import { ORG, planYaml, startFixture, type Fixture } from './fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));
const DOC_IMAGES = fileURLToPath(new URL('../../../docs/images/', import.meta.url));

if (!HAVE_CHROMIUM) {
  // describe.skipIf shows the suite as skipped; this line says why, in the test output.
  console.warn(
    `browser.test.ts skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run does it as root)`,
  );
}

// The fixture's plan, plus a dormant profile so that the images screen has images to show.
const PLAN = planYaml().replace(
  'mirror:\n',
  `dormant_profile:
  at: sunset + 15m
  x:
    name: Ville de Test (alertes)
    banner: { generate: flat-ecg, caption: 'Alertes et crises uniquement', colour: '#00435c' }
    avatar: { generate: flat-ecg-avatar }
mirror:
`,
);

describe.skipIf(!HAVE_CHROMIUM)(`dashboard in ${CHROMIUM} (skipped when it is missing)`, () => {
  let f: Fixture;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  let crisisId = '';
  // Anything the page logs as an error (a CSP refusal, an uncaught exception) fails the test.
  const pageErrors: string[] = [];

  // Expressions run in the page, as strings: this project's TypeScript has no DOM types.
  const inPage = (expression: string): Promise<unknown> => page.evaluate(expression);

  const shot = async (name: string, p = page) => {
    await p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  };

  const signIn = async (token: string, p = page) => {
    await p.getByLabel("Jeton d'accès").fill(token);
    await p.getByRole('button', { name: 'Se connecter' }).click();
    await expect.poll(() => p.locator('#session').isVisible()).toBe(true);
  };

  const watchErrors = (p: Page) => {
    p.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    p.on('console', (msg) => {
      // A 4xx the page shows on purpose is logged by Chromium as a failed resource: not a bug.
      if (msg.type() === 'error' && !/status of 4\d\d/.test(msg.text()))
        pageErrors.push(`console: ${msg.text()}`);
    });
  };

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    f = await startFixture({}, PLAN);
    base = await f.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-gpu',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context = await browser.newContext({
      acceptDownloads: true,
      locale: 'fr-FR',
      timezoneId: 'Europe/Paris',
      viewport: { width: 1280, height: 900 },
    });
    page = await context.newPage();
    watchErrors(page);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await f?.close();
    // For the README: what the timeline and the crisis form look like, refreshed on request only
    // (SUNSET_UPDATE_SCREENSHOTS=1) so that a test run leaves the tree as it found it.
    if (!process.env['SUNSET_UPDATE_SCREENSHOTS']) return;
    mkdirSync(DOC_IMAGES, { recursive: true });
    for (const [from, to] of [
      ['02-calendrier', 'dashboard-timeline'],
      ['03-crise-formulaire', 'dashboard-crisis'],
    ]) {
      const file = path.join(ARTIFACTS, `${from}.png`);
      if (existsSync(file)) copyFileSync(file, path.join(DOC_IMAGES, `${to}.png`));
    }
  });

  it('signs in with a crisis token, shows the timeline, previews and sends a crisis', async () => {
    await page.goto(base);
    // The first Tab lands on the skip link, which leads to the main content.
    await page.keyboard.press('Tab');
    expect(await inPage('document.activeElement?.textContent?.trim()')).toBe('Aller au contenu');
    await shot('01-connexion');

    // A wrong token gets the API's refusal, in words, with its request id.
    await page.getByLabel("Jeton d'accès").fill(`sunset_${'x'.repeat(43)}`);
    await page.getByRole('button', { name: 'Se connecter' }).click();
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.textContent()).toMatch(/jeton refusé/i);
    expect(await alert.textContent()).toMatch(/unknown or revoked token/);
    expect(await alert.textContent()).toMatch(/Identifiant de requête : \S+/);

    await signIn(f.tokens.crisis);
    expect(await page.locator('#session').textContent()).toMatch(/Ville de Test[\s\S]*cellule de crise/);
    expect(await inPage("sessionStorage.getItem('sunset.token')")).toBe(f.tokens.crisis);
    expect(await inPage('localStorage.length')).toBe(0);

    // The plan timeline: the farewell on every network, with its state in words and both clocks.
    expect(page.url()).toMatch(/#\/plan$/);
    const timeline = page.getByRole('table');
    await expect.poll(() => timeline.locator('caption').textContent()).toMatch(/Europe\/Paris/);
    const farewell = timeline.getByRole('row', { name: /farewell/ });
    expect(await farewell.textContent()).toMatch(/en attente/);
    expect(await farewell.locator('time').count()).toBe(2);
    expect(await page.getByRole('columnheader').allTextContents()).toEqual([
      'Heure (Europe/Paris)',
      'Heure (UTC)',
      'Action',
      'X',
      'Bluesky',
      'Mastodon',
    ]);
    expect(await page.locator('#plan-auto').textContent()).toMatch(/toutes les 15 secondes/);
    await shot('02-calendrier');

    await page.getByRole('link', { name: 'Crise' }).click();
    await expect.poll(() => inPage('document.activeElement?.id')).toBe('h-crise');
    await page.getByLabel('Message', { exact: true }).fill('Crue de la Loire : évitez les quais cette nuit.');
    // The preview comes first: each network's final text, with the plan's label and link.
    const preview = page.locator('#crisis-preview');
    await expect.poll(() => preview.locator('article').count()).toBe(3);
    const previewText = await preview.textContent();
    expect(previewText).toContain('🔴 ALERTE');
    expect(previewText).toContain('https://www.ville.test/alertes');
    expect(previewText).toMatch(/Longueur : \d+\/280 caractères/);
    expect(previewText).toMatch(/Longueur : \d+\/300 caractères/);
    // What X will charge for it, by X's published prices (the plan's .test link is no URL to X).
    expect(await preview.locator('article', { hasText: 'X' }).first().textContent()).toMatch(
      /Coût sur X : 0,015\sUSD/,
    );
    // A per-network text replaces the message on that network only.
    await page.getByText('Textes par réseau (facultatif)').click();
    await page.getByLabel('Texte pour Mastodon').fill('Crue : quais fermés, suivez les consignes.');
    await expect
      .poll(() => preview.locator('article', { hasText: 'Mastodon' }).textContent())
      .toContain('quais fermés');
    await shot('03-crise-formulaire');

    await page.getByRole('button', { name: 'Envoyer le message de crise' }).click();
    const result = page.locator('#crisis-result');
    await expect.poll(() => result.textContent()).toMatch(/accepté/);
    const id = (await result.locator('.post-id').textContent()) ?? '';
    expect(id).toMatch(/^\S+$/);
    expect(await page.getByRole('status').textContent()).toMatch(/Message accepté/);
    // Followed by id, then in the history with its per-network state.
    await expect.poll(() => page.locator('#crisis-followup').textContent()).toMatch(/État sur chaque réseau/);
    const card = page.locator(`#crisis-history article[data-post-id="${id}"]`);
    await expect.poll(() => card.count()).toBe(1);
    expect(await card.textContent()).toMatch(/accepté/);
    expect(await card.textContent()).toMatch(/X : en attente|X : envoi en cours|X : publié/);
    expect(await card.textContent()).toMatch(/envoyé par crisis-person/);
    await shot('04-crise-envoyee');

    // The crisis token sees no audit screen.
    expect(await page.getByRole('link', { name: "Journal d'audit" }).isVisible()).toBe(false);
    crisisId = id;
  }, 60_000);

  it('signs out, signs in as the auditor, filters the log, downloads the CSV, checks the chain', async () => {
    const id = crisisId;
    await page.getByRole('button', { name: 'Se déconnecter' }).click();
    expect(await inPage("sessionStorage.getItem('sunset.token')")).toBeNull();
    expect(await page.getByRole('status').textContent()).toMatch(/déconnecté/);
    expect(await page.getByRole('navigation').isVisible()).toBe(false);

    // An address of a screen the auditor may not see (the editor's) leads to the auditor's own.
    await page.goto(`${base}/#/rediger`);
    await signIn(f.tokens.auditor);
    expect(page.url()).toMatch(/#\/journal$/);
    await page.getByLabel('Action', { exact: true }).fill('crisis.accepted');
    await page.getByLabel('Réseau', { exact: true }).selectOption('');
    await page.getByRole('button', { name: 'Filtrer' }).click();
    const table = page.getByRole('table');
    await expect.poll(() => table.locator('caption').textContent()).toMatch(/action crisis\.accepted/);
    const rows = table.locator('tbody tr');
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain(id);
    expect(await rows.first().textContent()).toContain('token:crisis-person');
    await shot('05-journal');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Télécharger CSV' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('audit-ville-de-test.csv');
    const csv = readFileSync(await download.path(), 'utf8');
    const lines = csv.trim().split('\r\n');
    expect(lines[0]).toBe(
      'seq,at,organisationId,actor,action,network,postId,deliveryId,remoteId,outcome,error,requestId,jobId,before,after,details,prevHash,hash',
    );
    // Only what the filter matched: the one crisis.
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain('crisis.accepted');
    expect(lines[1]).toContain(id);

    await page.getByRole('button', { name: 'Vérifier la chaîne' }).click();
    await expect.poll(() => page.locator('#audit-verify-result').textContent()).toMatch(/Chaîne intacte/);
    await shot('06-journal-verification');
  }, 60_000);

  it('shows the generated profile images, loaded with the token', async () => {
    await page.getByRole('link', { name: 'Images du profil' }).click();
    const images = page.locator('#images-list img');
    await expect.poll(() => images.count(), { timeout: 20_000 }).toBe(2);
    // Each image has actually decoded (an object URL from bytes fetched with the token).
    await expect
      .poll(() =>
        inPage("[...document.querySelectorAll('#images-list img')].every((im) => im.naturalWidth > 0)"),
      )
      .toBe(true);
    const captions = await page.locator('#images-list figcaption').allTextContents();
    expect(captions.join('\n')).toMatch(/Bannière — X[\s\S]*pixels/);
    expect(captions.join('\n')).toMatch(/Avatar — X/);
    expect(await images.first().getAttribute('alt')).toMatch(/électrocardiogramme/);
    await shot('07-images');

    // At 200 % zoom (half the CSS width) the page reflows: no sideways scroll of the whole page.
    await page.setViewportSize({ width: 640, height: 900 });
    await page.getByRole('link', { name: 'Calendrier du plan' }).click();
    await expect.poll(() => page.getByRole('table').count()).toBe(1);
    expect(await inPage('document.documentElement.scrollWidth <= document.documentElement.clientWidth')).toBe(
      true,
    );
    await shot('08-calendrier-zoom-200');
  }, 60_000);

  it('waits for a second person: the sender is refused with the reason, another crisis token approves', async () => {
    const g = await startFixture({}, planYaml({ approval: 'second-person' }));
    const own = await browser.newContext({ locale: 'fr-FR', timezoneId: 'Europe/Paris' });
    try {
      const p = await own.newPage();
      watchErrors(p);
      await p.goto(await g.app.listen({ host: '127.0.0.1', port: 0 }));
      await signIn(g.tokens.crisis, p);
      await p.getByRole('link', { name: 'Crise' }).click();
      await p.getByLabel('Message', { exact: true }).fill('Tempête : restez chez vous.');
      await expect.poll(() => p.locator('#crisis-preview article').count()).toBe(3);
      await p.getByRole('button', { name: 'Envoyer le message de crise' }).click();
      const result = p.locator('#crisis-result');
      await expect.poll(() => result.textContent()).toMatch(/en attente d’approbation/);
      const id = (await result.locator('.post-id').textContent()) ?? '';

      // The sender tries to approve their own message: 403, and the page says why.
      const card = p.locator(`#crisis-history article[data-post-id="${id}"]`);
      await expect.poll(() => card.getByRole('button', { name: 'Approuver' }).count()).toBe(1);
      await card.getByRole('button', { name: 'Approuver' }).click();
      await expect
        .poll(() => p.getByRole('alert').textContent())
        .toMatch(/une autre personne de la cellule de crise doit l’approuver/);
      expect(await p.getByRole('alert').textContent()).toMatch(/cannot approve it: a second person must/);
      expect(await card.textContent()).toMatch(/cannot approve it/);
      await shot('09-crise-approbation-refusee', p);

      // The second duty officer, with a token of their own, approves it.
      await p.getByRole('button', { name: 'Se déconnecter' }).click();
      await signIn(g.tokens.crisis2, p);
      await p.getByRole('link', { name: 'Crise' }).click();
      await card.getByRole('button', { name: 'Approuver' }).click();
      await expect.poll(() => p.getByRole('status').textContent()).toMatch(/approuvé/);
      await expect
        .poll(() => card.textContent())
        .toMatch(/accepté[\s\S]*approuvé par julie\.martin \(jeton second-duty-officer\)/);
      expect(await card.getByRole('button', { name: 'Approuver' }).count()).toBe(0);
      await shot('10-crise-approuvee', p);
    } finally {
      await own.close();
      await g.close();
    }
  }, 60_000);

  it('lists the alerts each CAP feed brought on the crisis page, kept or filtered out and why', async () => {
    const url = 'https://feeds.meteo.example/meteoalarm-legacy-atom-france';
    const g = await startFixture({}, `${planYaml()}  feeds:\n    - url: ${url}\n      areas: [FR372]\n`);
    const own = await browser.newContext({ locale: 'fr-FR', timezoneId: 'Europe/Paris' });
    try {
      const common = { organisationId: ORG, feedId: feedIdOf(url), sender: 'vigilance@meteo.example' };
      await g.store.feeds.recordAlert({
        ...common,
        identifier: 'ORAGE1',
        sent: '2026-12-01T08:00:00+01:00',
        msgType: 'Alert',
        details: { event: 'Orages', severity: 'Moderate', awarenessLevel: 'yellow', geocodes: ['FR372'] },
        kept: true,
        reason: 'kept: awaiting approval',
        postId: 'c-kfeed',
      });
      await g.store.feeds.recordAlert({
        ...common,
        identifier: 'VENT1',
        sent: '2026-12-01T08:00:00+01:00',
        msgType: 'Alert',
        details: { event: 'Vent violent', severity: 'Moderate', geocodes: ['FR371'] },
        kept: false,
        reason: 'not in the areas watched (its geocodes: FR371)',
      });
      const p = await own.newPage();
      watchErrors(p);
      await p.goto(await g.app.listen({ host: '127.0.0.1', port: 0 }));
      await signIn(g.tokens.auditor, p);
      await p.getByRole('link', { name: 'Crise' }).click();
      const section = p.locator('#crisis-feeds-section');
      await expect.poll(() => section.locator('tbody tr').count()).toBe(2);
      expect(await section.locator('h3').textContent()).toBe(url);
      const kept = section.locator('tr[data-identifier="ORAGE1"]');
      expect(await kept.textContent()).toMatch(/Retenue — kept: awaiting approval/);
      expect(await kept.textContent()).toMatch(/vigilance jaune/);
      expect(await kept.textContent()).toContain('c-kfeed');
      const filtered = section.locator('tr[data-identifier="VENT1"]');
      expect(await filtered.textContent()).toMatch(
        /Écartée — not in the areas watched \(its geocodes: FR371\)/,
      );
      expect(await section.textContent()).toMatch(/Pas encore lu/);
      await shot('11-crise-flux-cap', p);

      // An editor sees the crisis history but not the feeds (the API would refuse).
      await p.getByRole('button', { name: 'Se déconnecter' }).click();
      await signIn(g.tokens.editor, p);
      await p.getByRole('link', { name: 'Crise' }).click();
      await expect.poll(() => p.locator('#crisis-history').getAttribute('aria-busy')).toBeNull();
      expect(await section.isVisible()).toBe(false);
    } finally {
      await own.close();
      await g.close();
    }
  }, 60_000);

  it('shows the X credits banner on every screen, the spend on the plan screen, and lets an admin resume', async () => {
    // As the worker leaves it after X's 402: the X delivery held, X paused (engine tests cover that part).
    const [held] = (await f.store.deliveries.list({ organisationId: ORG, network: 'x' })).filter(
      (d) => d.kind === 'post' && d.status === 'queued',
    );
    expect(held).toBeDefined();
    await rawSql(
      { store: f.store, dialect: 'sqlite', url: path.join(f.dir, 'sunset.db'), cleanup: async () => {} },
      `update deliveries set status = 'needs-attention' where id = '${held!.id}'`,
    );
    await f.store.xSpend.hold(ORG, held!.id, "X credits exhausted: buy credits in X's developer console");
    await f.store.xSpend.record({
      organisationId: ORG,
      kind: 'create',
      count: 1,
      costMicros: 15_000,
      crisis: false,
    });
    await f.store.kv.set(
      ORG,
      'x.paused',
      JSON.stringify({
        kind: 'credits',
        reason: "X credits exhausted: buy credits in X's developer console",
        since: new Date().toISOString(),
      }),
    );

    // An editor sees why X waits, and that an admin resumes it; no button.
    await page.getByRole('button', { name: 'Se déconnecter' }).click();
    await signIn(f.tokens.editor);
    const banner = page.getByRole('region', { name: 'X en pause' });
    await expect.poll(() => banner.isVisible()).toBe(true);
    expect(await banner.textContent()).toMatch(/X en pause : crédits épuisés depuis/);
    expect(await banner.textContent()).toMatch(/\(1 en attente\)/);
    expect(await banner.textContent()).toMatch(/un administrateur reprend les publications/);
    expect(await banner.getByRole('button').count()).toBe(0);
    const spend = page.locator('#plan-x');
    await expect.poll(() => spend.textContent()).toMatch(/Dépensé ce mois-ci\s*0,015\sUSD/);
    expect(await spend.textContent()).toMatch(/Budget mensuel\s*non fixé/);
    expect(await page.getByRole('heading', { name: 'X : dépenses et plafonds' }).isVisible()).toBe(true);
    await page.getByRole('link', { name: 'Crise' }).click();
    expect(await banner.isVisible()).toBe(true);
    await shot('11-x-en-pause');

    // The admin resumes: the held post is queued again, the banner goes.
    await page.getByRole('button', { name: 'Se déconnecter' }).click();
    await signIn(f.tokens.admin);
    await expect.poll(() => banner.isVisible()).toBe(true);
    await banner.getByRole('button', { name: 'Reprendre les publications sur X' }).click();
    await expect
      .poll(() => page.getByRole('status').textContent())
      .toMatch(/Publications sur X reprises : 1 publication remise en file/);
    await expect.poll(() => banner.isVisible()).toBe(false);
    expect((await f.store.deliveries.get(held!.id))?.status).toBe('queued');
    expect(
      (await f.store.audit.list({ organisationId: ORG, action: 'x.resumed' })).map((e) => e.actor),
    ).toEqual(['token:admin-person']);
  }, 60_000);

  it('logged no error in the page (CSP refusals, exceptions)', () => {
    expect(pageErrors).toEqual([]);
  });
});
