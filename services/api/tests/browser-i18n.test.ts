/**
 * The dashboard in French and in English, in Debian's chromium (playwright-core) against the real
 * app under its CSP: the language comes from the browser, the FR / EN switch in the header
 * changes it (by keyboard too), is remembered in this browser, sets <html lang> and draws the
 * current screen again with no word of the other language left; axe-core runs on every view in
 * both languages and fails on any serious or critical violation. The timeline and the crisis form
 * are photographed in both languages (30-… to 33-… in test-artifacts/; the English ones also go to
 * docs/images/ for the README when SUNSET_UPDATE_SCREENSHOTS=1). Without /usr/bin/chromium the
 * suite is skipped and says why.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_DIR } from '../src/app.ts';
import { planYaml, startFixture, type Fixture } from './fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));
const DOC_IMAGES = fileURLToPath(new URL('../../../docs/images/', import.meta.url));
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

if (!HAVE_CHROMIUM) {
  console.warn(
    `browser-i18n.test.ts skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run does it as root)`,
  );
}

// A dormant profile, so that the images screen has images to check.
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

type Lang = 'fr' | 'en';
type Catalogue = Record<string, string>;

/** Each view, its address, and what shows it is drawn (its data loaded, not just its heading). */
const VIEWS: { name: string; route: string; ready: string }[] = [
  { name: 'plan', route: 'plan', ready: '#plan-table table' },
  { name: 'compose', route: 'rediger', ready: '#compose-preview > *' },
  { name: 'queue', route: 'file', ready: '#queue-list > *' },
  { name: 'approvals', route: 'approbations', ready: '#approvals-list > *' },
  { name: 'crisis', route: 'crise', ready: '#crisis-feeds > *' },
  { name: 'audit', route: 'journal', ready: '#audit-table table' },
  { name: 'images', route: 'images', ready: '#images-list img' },
];

describe.skipIf(!HAVE_CHROMIUM)(`dashboard in French and English in ${CHROMIUM}`, () => {
  let f: Fixture;
  let browser: Browser;
  let base: string;
  const catalogues = {} as Record<Lang, Catalogue>;
  const pageErrors: string[] = [];

  const newPage = async (locale: 'fr-FR' | 'en-GB') => {
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

  /** axe-core in the page (evaluated, so the page's CSP does not stop it): serious and critical only. */
  const axe = async (page: Page, view: string) => {
    if ((await page.evaluate('typeof window.axe')) !== 'object') await page.evaluate(AXE);
    const found = (await page.evaluate(
      `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`,
    )) as string[];
    expect(found, `axe on ${view}`).toEqual([]);
  };

  /**
   * Words on the page that belong to the other language, or catalogue keys shown instead of
   * words: each message that differs between the two languages, up to its first placeholder.
   */
  const strays = async (page: Page, lang: Lang) => {
    const other = catalogues[lang === 'fr' ? 'en' : 'fr'];
    const own = catalogues[lang];
    const fragments = Object.entries(other)
      .filter(([key, text]) => own[key] !== text)
      .map(([, text]) => text.split('{')[0]!.trim())
      .filter((text) => text.length >= 12);
    const text = (await page.evaluate('document.body.innerText')) as string;
    const keys = Object.keys(own).filter((key) =>
      new RegExp(`(^|\\s)${key.replace('.', '\\.')}(\\s|$)`).test(text),
    );
    return [...fragments.filter((fragment) => text.includes(fragment)), ...keys];
  };

  const signIn = async (page: Page, token: string, lang: Lang) => {
    await page.getByLabel(catalogues[lang]['signin.tokenLabel']!).fill(token);
    await page.getByRole('button', { name: catalogues[lang]['signin.submit'], exact: true }).click();
    await expect.poll(() => page.locator('#session').isVisible()).toBe(true);
  };

  /** Presses Tab until the focus is on the element matching `selector`: reachable by keyboard alone. */
  const tabTo = async (page: Page, selector: string, max = 40) => {
    for (let i = 0; i < max; i++) {
      if (await page.evaluate(`document.activeElement?.matches(${JSON.stringify(selector)}) ?? false`))
        return;
      await page.keyboard.press('Tab');
    }
    throw new Error(`${selector} not reached by Tab`);
  };

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    for (const lang of ['fr', 'en'] as const) {
      const module = (await import(
        pathToFileURL(path.join(PUBLIC_DIR, 'i18n', `${lang}.js`)).href
      )) as Record<Lang, Catalogue>;
      catalogues[lang] = module[lang];
    }
    f = await startFixture({}, PLAN);
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
    if (!process.env['SUNSET_UPDATE_SCREENSHOTS']) return;
    mkdirSync(DOC_IMAGES, { recursive: true });
    for (const [from, to] of [
      ['31-calendrier-en', 'dashboard-timeline-en'],
      ['33-crise-formulaire-en', 'dashboard-crisis-en'],
    ]) {
      const file = path.join(ARTIFACTS, `${from}.png`);
      if (existsSync(file)) copyFileSync(file, path.join(DOC_IMAGES, `${to}.png`));
    }
  });

  it('switches to English and back with the FR / EN switch, remembered, keyboard only', async () => {
    const page = await newPage('fr-FR');
    await page.goto(base);
    await expect.poll(() => page.evaluate('document.documentElement.lang')).toBe('fr');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Connexion');
    const fr = page.getByRole('button', { name: /^FR/ });
    const en = page.getByRole('button', { name: /^EN/ });
    expect(await fr.getAttribute('aria-pressed')).toBe('true');
    expect(await en.getAttribute('aria-pressed')).toBe('false');

    // By keyboard alone: Tab to the switch, Enter.
    await tabTo(page, 'button[data-lang="en"]');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.evaluate('document.documentElement.lang')).toBe('en');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in');
    expect(await page.title()).toBe('Sign in — sunset');
    expect(await en.getAttribute('aria-pressed')).toBe('true');
    expect(await page.evaluate("localStorage.getItem('sunset.lang')")).toBe('en');
    // The focus stays on the switch: nothing jumps under a keyboard user's feet.
    expect(await page.evaluate('document.activeElement?.dataset.lang')).toBe('en');
    expect(await strays(page, 'en')).toEqual([]);

    // Remembered in this browser: a reload stays in English although the browser asks for French.
    await page.reload();
    await expect.poll(() => page.evaluate('document.documentElement.lang')).toBe('en');
    await signIn(page, f.tokens.crisis, 'en');
    expect(await page.locator('#session').textContent()).toMatch(/Ville de Test[\s\S]*crisis cell/);
    const timeline = page.getByRole('table');
    await expect.poll(() => timeline.locator('caption').textContent()).toMatch(/time zone \(Europe\/Paris\)/);
    expect(await page.getByRole('columnheader').allTextContents()).toEqual([
      'Time (Europe/Paris)',
      'Time (UTC)',
      'Action',
      'X',
      'Bluesky',
      'Mastodon',
    ]);
    expect(await timeline.getByRole('row', { name: /farewell/ }).textContent()).toMatch(/waiting/);
    // Dates in English: "Tue, 20 Jan 2099, 10:00:00".
    expect(await timeline.locator('time').first().textContent()).toMatch(/20 Jan 2099/);
    await expect.poll(() => page.locator('#plan-x').textContent()).toMatch(/Spent this month\s*USD\s?0\.00/);
    await expect.poll(() => page.locator('#plan-auto').textContent()).toMatch(/every 15 seconds/);
    expect(await strays(page, 'en')).toEqual([]);
    await shot(page, '31-calendrier-en');

    await page.getByRole('link', { name: 'Crisis' }).click();
    await page.getByLabel('Message', { exact: true }).fill('Loire flood: keep away from the quays tonight.');
    const preview = page.locator('#crisis-preview');
    await expect.poll(() => preview.locator('article').count()).toBe(3);
    expect(await preview.textContent()).toMatch(/Length: \d+\/280 characters/);
    await page.getByText('Per-network texts (optional)').click();
    await page.getByLabel('Text for Mastodon').fill('Flood: quays closed, follow the instructions.');
    await expect
      .poll(() => preview.locator('article', { hasText: 'Mastodon' }).textContent())
      .toContain('quays closed');
    expect(await strays(page, 'en')).toEqual([]);
    await shot(page, '33-crise-formulaire-en');

    // Back to French on the crisis screen: the preview is drawn again, the typing is kept.
    await page.getByRole('button', { name: /^FR/ }).click();
    await expect.poll(() => page.evaluate('document.documentElement.lang')).toBe('fr');
    await expect.poll(() => preview.textContent()).toMatch(/Longueur : \d+\/280 caractères/);
    expect(await page.getByLabel('Texte pour Mastodon').inputValue()).toContain('quays closed');
    expect(await page.getByRole('heading', { level: 1, name: 'Crise' }).isVisible()).toBe(true);
    expect(await page.title()).toBe('Crise — sunset');
    expect(await page.evaluate("localStorage.getItem('sunset.lang')")).toBe('fr');
    await expect.poll(() => strays(page, 'fr')).toEqual([]);
    await shot(page, '32-crise-formulaire-fr');

    await page.getByRole('link', { name: 'Calendrier du plan' }).click();
    await expect
      .poll(() => page.getByRole('table').locator('caption').textContent())
      .toMatch(/fuseau du plan/);
    await expect.poll(() => page.locator('#plan-x').textContent()).toMatch(/Dépensé ce mois-ci/);
    expect(await page.getByRole('table').locator('time').first().textContent()).toMatch(/20 janv\. 2099/);
    expect(await strays(page, 'fr')).toEqual([]);
    await shot(page, '30-calendrier-fr');
    expect(pageErrors).toEqual([]);
  }, 90_000);

  for (const [lang, locale] of [
    ['fr', 'fr-FR'],
    ['en', 'en-GB'],
  ] as const) {
    it(`has no serious axe-core violation on any view in ${lang}, the language taken from the browser`, async () => {
      const page = await newPage(locale);
      await page.goto(base);
      await expect.poll(() => page.evaluate('document.documentElement.lang')).toBe(lang);
      await axe(page, `sign-in (${lang})`);
      expect(await strays(page, lang)).toEqual([]);
      await signIn(page, f.tokens.admin, lang);
      for (const view of VIEWS) {
        await page.goto(`${base}/#/${view.route}`);
        await expect
          .poll(() => page.locator(view.ready).count(), {
            message: `${view.name} (${lang})`,
            timeout: 20_000,
          })
          .toBeGreaterThan(0);
        await expect.poll(() => page.locator('[aria-busy="true"]').count()).toBe(0);
        await axe(page, `${view.name} (${lang})`);
        expect(await strays(page, lang), `${view.name} (${lang})`).toEqual([]);
      }
      expect(pageErrors).toEqual([]);
    }, 90_000);
  }
});
