/**
 * The plan screen's identity checks in a real browser (Debian's chromium, playwright-core)
 * against the real app, from runs written to the store as the worker writes them: the latest
 * run's checks in a captioned table, a drifted dormant X profile shown as failed in words and
 * with its message (not by colour alone), the history of runs, French and English words from
 * the catalogues, no serious axe-core finding. The screenshot goes to test-artifacts/ (and to
 * docs/images/ for the README when SUNSET_UPDATE_SCREENSHOTS=1). Without /usr/bin/chromium the
 * suite is skipped and says why.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { rawSql } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORG, planYaml, startFixture, type Fixture } from './fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));
const DOC_IMAGES = fileURLToPath(new URL('../../../docs/images/', import.meta.url));
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

if (!HAVE_CHROMIUM) {
  console.warn(
    `browser-identity.test.ts skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run does it as root)`,
  );
}

const DAY = 86_400_000;
const LAST = Date.UTC(2027, 2, 12, 6, 0);
const DRIFT =
  'the dormant X profile has changed since the plan set it: name reads "Ville de Test (officiel)", the plan set ' +
  '"Ville de Test — compte en sommeil". Someone else may control the account: check its password and sessions';

const passing = [
  {
    check: 'bluesky-domain',
    subject: '@ville.test',
    status: 'ok',
    message: 'DNS TXT _atproto.ville.test names did:plc:ville0000000000000000000',
  },
  {
    check: 'mastodon-link',
    subject: 'https://www.ville.test/',
    status: 'ok',
    message: 'https://www.ville.test/ links back to https://social.ville.test/@ville with rel="me"',
  },
  {
    check: 'x-profile',
    subject: '@VilleDeTest',
    status: 'ok',
    message: 'the dormant X profile reads as the plan set it, images included',
  },
];

describe.skipIf(!HAVE_CHROMIUM)(`identity checks in ${CHROMIUM} (skipped when it is missing)`, () => {
  let f: Fixture;
  let browser: Browser;
  let base: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    f = await startFixture({}, planYaml());
    // Four daily runs written with their own times (the worker writes them at "now"): three
    // passing, then one where the X profile has drifted and the website did not answer.
    const runs = [3, 2, 1].map((d) => ({ at: LAST - d * DAY, failed: 0, results: passing }));
    runs.push({
      at: LAST,
      failed: 1,
      results: [
        passing[0]!,
        {
          check: 'mastodon-link',
          subject: 'https://www.ville.test/',
          status: 'unknown',
          message: 'https://www.ville.test/ cannot be read (timed out after 10000 ms)',
        },
        { check: 'x-profile', subject: '@VilleDeTest', status: 'failed', message: DRIFT },
      ],
    });
    const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;
    const t = { url: path.join(f.dir, 'sunset.db'), dialect: 'sqlite' as const };
    await rawSql(
      t as Parameters<typeof rawSql>[0],
      `insert into identity_checks (organisation_id, at, failed, results) values ${runs
        .map(
          (r) =>
            `(${quote(ORG)}, ${quote(new Date(r.at).toISOString())}, ${r.failed}, ${quote(JSON.stringify(r.results))})`,
        )
        .join(', ')}`,
    );
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
    const file = path.join(ARTIFACTS, '09-identite.png');
    mkdirSync(DOC_IMAGES, { recursive: true });
    if (existsSync(file)) copyFileSync(file, path.join(DOC_IMAGES, 'dashboard-identity.png'));
  });

  async function openPlan(locale: string): Promise<{ context: BrowserContext; page: Page }> {
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
    await page.goto(base);
    await page.locator('#token').fill(f.tokens.auditor);
    await page.locator('#sign-in-form button[type="submit"]').click();
    await expect.poll(() => page.locator('#nav').isVisible()).toBe(true);
    await page.goto(`${base}/#/plan`);
    return { context, page };
  }

  it('shows the latest run with the drifted X profile as failed, in words, with its message', async () => {
    const { context, page } = await openPlan('fr-FR');
    const section = page.locator('#plan-identity');
    await expect.poll(() => section.locator('table.identity-results tbody tr').count()).toBe(3);
    expect(await section.getByRole('heading', { name: 'Identité des comptes' }).isVisible()).toBe(true);
    expect(await section.textContent()).toContain('Dernière vérification');
    expect(await section.locator('.identity-summary').textContent()).toContain(
      '1 vérification(s) sur 3 en échec',
    );

    const table = section.locator('table.identity-results');
    expect(await table.locator('caption').textContent()).toMatch(/^Résultat de chaque vérification du /);
    expect(await table.locator('thead th').allTextContents()).toEqual([
      'Réseau',
      'Vérification',
      'Compte ou lien',
      'Résultat',
      'Détail (en anglais)',
    ]);
    // Row headers name the network; the X row says "En échec" in words and carries the message.
    const x = table.locator('tr[data-check="x-profile"]');
    expect(await x.locator('th[scope="row"]').textContent()).toBe('X');
    expect(await x.getAttribute('data-status')).toBe('failed');
    const cells = await x.locator('td').allTextContents();
    expect(cells[0]).toBe('Profil dormant inchangé');
    expect(cells[1]).toBe('@VilleDeTest');
    expect(cells[2]).toBe('✗ En échec');
    expect(cells[3]).toBe(DRIFT);
    expect(await x.locator('td span[lang="en"]').count()).toBe(1);
    const mastodon = table.locator('tr[data-check="mastodon-link"] td');
    expect(await mastodon.nth(2).textContent()).toBe('? Non vérifiable');
    expect(await table.locator('tr[data-check="bluesky-domain"] td').nth(2).textContent()).toBe('✓ Réussie');
    // The accessible name of the status is the word alone: the mark is hidden from screen readers.
    expect(await x.locator('td .badge [aria-hidden="true"]').textContent()).toBe('✗ ');
    // Failed rows differ by more than a colour: a rule on their left edge.
    // The tests are type-checked without the DOM's declarations: the page's own function, typed here.
    type Styles = { getComputedStyle(el: unknown): { borderLeftWidth: string } };
    const rule = await x
      .locator('th')
      .evaluate((el) => (globalThis as unknown as Styles).getComputedStyle(el).borderLeftWidth);
    expect(parseFloat(rule)).toBeGreaterThan(3);

    // The history: every run, newest first, the failed one saying so.
    await section.getByText('Historique des vérifications (4 dernières)').click();
    const history = section.locator('details.identity-history table');
    expect(await history.locator('caption').textContent()).toContain('Vérifications précédentes');
    expect(await history.locator('tbody tr').count()).toBe(4);
    expect(await history.locator('tbody tr').first().locator('td').last().textContent()).toBe(
      '✗ En échec 1 en échec',
    );
    expect(await history.locator('tbody tr').nth(1).locator('td').last().textContent()).toBe(
      '✓ Réussie tout a réussi',
    );
    expect(await history.locator('tbody th time').first().getAttribute('datetime')).toBe(
      new Date(LAST).toISOString(),
    );

    await page.evaluate(AXE);
    const violations = (await page.evaluate(`axe
      .run(document.querySelector('#plan-identity'), { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
      .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))`)) as {
      id: string;
      impact: string;
    }[];
    expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);

    await section.scrollIntoViewIfNeeded();
    await section.screenshot({ path: path.join(ARTIFACTS, '09-identite.png') });
    expect(pageErrors).toEqual([]);
    await context.close();
  });

  it('speaks English to an English browser', async () => {
    const { context, page } = await openPlan('en-GB');
    const section = page.locator('#plan-identity');
    await expect.poll(() => section.locator('table.identity-results tbody tr').count()).toBe(3);
    expect(await section.getByRole('heading', { name: 'Account identity' }).isVisible()).toBe(true);
    const x = section.locator('tr[data-check="x-profile"] td');
    expect(await x.nth(0).textContent()).toBe('Dormant profile unchanged');
    expect(await x.nth(2).textContent()).toBe('✗ Failed');
    expect(await section.locator('.identity-summary').textContent()).toContain('1 of 3 checks failed');
    expect(pageErrors).toEqual([]);
    await context.close();
  });
});
