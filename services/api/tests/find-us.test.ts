/**
 * The public "find us" page: served without a token under a strict CSP, the same 404 for every
 * organisation it has no page for, and, in Debian's chromium, no request beyond its own address,
 * no serious or critical axe-core finding, and QR codes that decode back to the links beside them
 * (each SVG rendered by resvg, read by jsQR).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Resvg } from '@resvg/resvg-js';
import jsQRModule from 'jsqr';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audienceKeys } from '@sunset/plan';
import { ORG, planYaml, startFixture, type Fixture } from './fixture.ts';

// A CommonJS bundle whose types declare an ES default export: the function is one or the other.
const jsQR = ((jsQRModule as unknown as { default?: unknown }).default ??
  jsQRModule) as unknown as typeof jsQRModule.default;

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const PLAN = `${planYaml()}audience:
  starter_pack:
    name: Ville de Test et ses services
    description: Les comptes officiels de la Ville de Test.
  accounts:
    - name: Cabinet du maire
      relation: mayor
      bluesky: maire.ville.test
    - name: Médiathèques
      relation: own
      bluesky: mediatheques.ville.test
      mastodon: "@mediatheques@social.ville.test"
    - name: Métropole
      relation: partner
      mastodon: "@metropole@mastodon.example"
      website: https://www.metropole.example
`;

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({}, PLAN);
});
afterAll(async () => {
  await f?.close();
});

describe('GET /find/<org>', () => {
  it('serves the page without a token, under a CSP that allows nothing from elsewhere', async () => {
    const res = await f.app.inject({ method: 'GET', url: `/find/${ORG}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toMatch(/unsafe-inline|script-src/);
    const html = res.body;
    expect(html).toMatch(/<html lang="fr">/);
    expect(html).toContain('<meta name="fediverse:creator" content="@ville@social.ville.test">');
    expect(html).toContain('<link rel="me" href="https://social.ville.test/@ville">');
    expect(html).toContain('<link rel="me" href="https://bsky.app/profile/ville.test">');
    // Its own other accounts are "me"; the mayor's office and partners are not.
    expect(html).toContain('<a href="https://social.ville.test/@mediatheques" rel="me">');
    expect(html).toContain('<a href="https://bsky.app/profile/maire.ville.test">@maire.ville.test</a>');
    expect(html).toContain(`https://bsky.app/starter-pack/ville.test/${audienceKeys(ORG).starterPack}`);
    expect(html).not.toMatch(/<script|https?:\/\/[^"]+\.(css|js|woff2?)\b/);
  });

  it('answers the same 404 for an unknown organisation and a malformed one', async () => {
    const bodies = [];
    for (const org of ['ville-inconnue', 'Ville_De_Test', 'a'.repeat(65)]) {
      const res = await f.app.inject({ method: 'GET', url: `/find/${org}` });
      expect(res.statusCode, org).toBe(404);
      bodies.push(JSON.stringify((JSON.parse(res.body) as { error: unknown }).error));
    }
    expect(new Set(bodies).size).toBe(1);
    expect(bodies[0]).not.toMatch(/ville|plan/i);
  });
});

describe.skipIf(!HAVE_CHROMIUM)(`the find-us page in ${CHROMIUM}`, () => {
  let browser: Browser;
  let base: string;
  beforeAll(async () => {
    base = await f.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-gpu'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('asks nothing of anyone else, passes axe-core, and its QR codes read back as its links', async () => {
    const context = await browser.newContext({ locale: 'fr-FR', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      // Chromium asks for /favicon.ico on its own, whenever it likes: not the page's doing.
      if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico')) problems.push(m.text());
    });
    await page.goto(`${base}/find/${ORG}`);
    expect(
      requests.every((u) => u.startsWith(`${base}/`)),
      requests.join('\n'),
    ).toBe(true);
    // The style is allowed by its hash: applied, no CSP refusal.
    expect(await page.evaluate('getComputedStyle(document.querySelector(".account")).borderTopStyle')).toBe(
      'solid',
    );
    expect(problems).toEqual([]);

    // axe-core, evaluated by the browser's debugger protocol (the page's CSP admits no script).
    await page.evaluate(AXE);
    const violations = (await page.evaluate(`axe
      .run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
      .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))`)) as {
      id: string;
      impact: string;
    }[];
    expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);

    // Each QR code beside the link it stands for.
    const codes = (await page.evaluate(`[...document.querySelectorAll('figure > svg')].map((svg) => {
      const box = svg.closest('li, section');
      return { svg: svg.outerHTML, href: box.querySelector('a').href, label: svg.getAttribute('aria-label') };
    })`)) as { svg: string; href: string; label: string }[];
    expect(codes.length).toBe(1 + 2 + 1 + 2 + 1);
    for (const code of codes) {
      expect(code.label).toMatch(/^QR code vers /);
      const rendered = new Resvg(code.svg, {
        fitTo: { mode: 'width', value: 400 },
        background: '#ffffff',
      }).render();
      const read = jsQR(new Uint8ClampedArray(rendered.pixels), rendered.width, rendered.height);
      expect(read?.data, code.href).toBe(code.href);
    }
    await context.close();
  }, 60_000);
});

describe('GET /find/<org> after a plan is applied again', () => {
  it('shows the newest plan at once', async () => {
    for (const name of ['Bibliothèques', 'Réseau des bibliothèques']) {
      const applied = await f.app.inject({
        method: 'POST',
        url: '/v1/plans',
        headers: { ...f.auth('planner'), 'content-type': 'application/yaml' },
        payload: PLAN.replace('- name: Médiathèques', `- name: ${name}`),
      });
      expect(applied.statusCode, applied.body).toBe(200);
      const page = await f.app.inject({ method: 'GET', url: `/find/${ORG}` });
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain(name);
      expect(page.body).not.toContain('Médiathèques');
    }
  });
});
