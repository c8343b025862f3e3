/**
 * The plan screen's follower chart in a real browser (Debian's chromium, playwright-core) against
 * the real app: an inline SVG line per network over time with the sunset marked, a caption that
 * says what it shows, the same figures as a table, French words, no serious axe-core finding,
 * under the app's own CSP. The screenshots go to test-artifacts/ (the chart's also to docs/images/
 * for the README when SUNSET_UPDATE_SCREENSHOTS=1). Without /usr/bin/chromium the suite is skipped and says why.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
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
    `browser-followers.test.ts skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run does it as root)`,
  );
}

const DAY = 86_400_000;
// The sunset (2 March, 09:00 in Paris) ten days into a month of readings: X falls off after it,
// Bluesky and Mastodon grow.
const START = Date.UTC(2027, 1, 20, 8, 0);

describe.skipIf(!HAVE_CHROMIUM)(`follower chart in ${CHROMIUM} (skipped when it is missing)`, () => {
  let f: Fixture;
  let browser: Browser;
  let page: Page;
  let base: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    f = await startFixture({}, planYaml({ sunset: '2027-03-02T09:00' }));
    // A month of daily readings, written with their own times (the worker writes them at "now").
    const rows: string[] = [];
    for (let d = 0; d <= 30; d++) {
      const at = new Date(START + d * DAY).toISOString();
      const after = Math.max(0, d - 10);
      const x = 15_200 - after * 140 - d * 5;
      const bluesky = 800 + d * 30 + after * 160;
      const mastodon = 300 + d * 10 + after * 70;
      for (const [network, count] of [
        ['x', x],
        ['bluesky', bluesky],
        ['mastodon', mastodon],
      ] as const) {
        rows.push(`('${ORG}', '${network}', '${at}', ${count})`);
      }
    }
    const t = { url: path.join(f.dir, 'sunset.db'), dialect: 'sqlite' as const };
    await rawSql(
      t as Parameters<typeof rawSql>[0],
      `insert into follower_counts (organisation_id, network, at, count) values ${rows.join(', ')}`,
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
    const context = await browser.newContext({
      locale: 'fr-FR',
      timezoneId: 'Europe/Paris',
      viewport: { width: 1280, height: 900 },
    });
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/status of 4\d\d/.test(msg.text()))
        pageErrors.push(`console: ${msg.text()}`);
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await f?.close();
    if (!process.env['SUNSET_UPDATE_SCREENSHOTS']) return;
    const file = path.join(ARTIFACTS, '08-abonnes-graphique.png');
    mkdirSync(DOC_IMAGES, { recursive: true });
    if (existsSync(file)) copyFileSync(file, path.join(DOC_IMAGES, 'dashboard-followers.png'));
  });

  it('draws one line per network with the sunset marked, captioned, with the figures as a table', async () => {
    // A bookmarked address: the plan screen opens once signed in, not the auditor's usual journal.
    await page.goto(`${base}/#/plan`);
    await page.getByLabel("Jeton d'accès").fill(f.tokens.auditor);
    await page.getByRole('button', { name: 'Se connecter' }).click();
    await expect.poll(() => page.locator('#session').isVisible()).toBe(true);
    expect(page.url()).toMatch(/#\/plan$/);
    const section = page.locator('#plan-followers');
    await expect.poll(() => section.isVisible()).toBe(true);
    await expect.poll(() => section.locator('svg polyline').count()).toBe(3);
    expect(await section.getByRole('heading', { name: 'Abonnés par réseau' }).isVisible()).toBe(true);

    // Each line has one point per reading, and its own dash pattern (colour is not the only cue).
    const lines =
      (await page.evaluate(`[...document.querySelectorAll('#plan-followers svg polyline')].map((l) => ({
      network: l.dataset.network,
      points: l.getAttribute('points').trim().split(/\\s+/).length,
      dash: l.getAttribute('stroke-dasharray') ?? 'none',
    }))`)) as { network: string; points: number; dash: string }[];
    expect(lines.map((l) => l.network)).toEqual(['x', 'bluesky', 'mastodon']);
    expect(lines.every((l) => l.points === 31)).toBe(true);
    expect(new Set(lines.map((l) => l.dash)).size).toBe(3);

    // The sunset: a marked line with its label, between the first and the last reading.
    const sunset = section.locator('svg.followers-chart [data-mark="sunset"]');
    expect(await sunset.count()).toBe(1);
    expect(await section.locator('svg.followers-chart').textContent()).toContain('Fin sur X');
    const svg = section.locator('svg.followers-chart');
    expect(await svg.getAttribute('role')).toBe('img');
    const label = (await svg.getAttribute('aria-labelledby')) ?? '';
    expect(label.split(' ').length).toBe(2);

    const caption = await section.locator('figcaption').textContent();
    expect(caption).toMatch(/X : 15\s?200 → 12\s?250/);
    expect(caption).toMatch(/Bluesky : 800 → 4\s?900/);
    expect(caption).toContain('fin sur X le');

    await section.scrollIntoViewIfNeeded();
    await section.screenshot({ path: path.join(ARTIFACTS, '08-abonnes-graphique.png') });

    // The same figures in a table, French headers, one row per reading time.
    await section.getByText('Voir les relevés en tableau').click();
    const table = section.locator('table');
    expect(await table.locator('thead th').allTextContents()).toEqual(['Relevé', 'X', 'Bluesky', 'Mastodon']);
    expect(await table.locator('tbody tr').count()).toBe(31);
    expect(await table.locator('tbody tr').last().locator('td').nth(0).textContent()).toMatch(/12\s?250/);

    await page.evaluate(AXE);
    const violations = (await page.evaluate(`axe
      .run(document.querySelector('#plan-followers'), { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
      .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))`)) as {
      id: string;
      impact: string;
    }[];
    expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);

    await page.screenshot({ path: path.join(ARTIFACTS, '08-abonnes.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
