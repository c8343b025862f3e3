/**
 * The dashboard as files the API serves: the right types, the CSP on the page, and the markup
 * rules a screen reader depends on (language, skip link, a label for every field, landmarks,
 * headings in order). The behaviour in a real browser is browser.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Parser } from 'htmlparser2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_DIR } from '../src/app.ts';
import { startFixture, type Fixture } from './fixture.ts';

interface El {
  name: string;
  attrs: Record<string, string>;
  text: string;
  /** The label elements this one is inside of. */
  insideLabel: boolean;
}

/** Every element of the page with its attributes and its own text, in document order. */
function parse(html: string): El[] {
  const all: El[] = [];
  const open: El[] = [];
  const parser = new Parser(
    {
      onopentag(name, attrs) {
        const el = { name, attrs, text: '', insideLabel: open.some((o) => o.name === 'label') };
        all.push(el);
        open.push(el);
      },
      ontext(text) {
        for (const o of open) o.text += text;
      },
      onclosetag() {
        open.pop();
      },
    },
    { decodeEntities: true, lowerCaseTags: true },
  );
  parser.write(html);
  parser.end();
  return all;
}

let f: Fixture;
beforeAll(async () => {
  f = await startFixture();
});
afterAll(async () => f?.close());

describe('dashboard files', () => {
  it('serves the page at / with the CSP, and its script and style with their types', async () => {
    const page = await f.app.inject({ url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);

    const script = await f.app.inject({ url: '/app.js' });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toMatch(/^(text|application)\/javascript/);
    const style = await f.app.inject({ url: '/style.css' });
    expect(style.statusCode).toBe(200);
    expect(style.headers['content-type']).toMatch(/^text\/css/);
  });

  it('serves every module app.js imports, and only same-origin ones', async () => {
    const modules = [
      ...readdirSync(PUBLIC_DIR).filter((name) => name.endsWith('.js')),
      ...readdirSync(path.join(PUBLIC_DIR, 'i18n')).map((name) => `i18n/${name}`),
    ];
    for (const name of modules) {
      const source = readFileSync(path.join(PUBLIC_DIR, name), 'utf8');
      for (const [, target] of source.matchAll(/^import .* from '([^']+)';$/gm)) {
        // A CDN import would be blocked by script-src 'self'; a missing file would break the page.
        expect(target, `${name} imports ${target}`).toMatch(/^\.\/(i18n\/)?[a-z0-9-]+\.js$/);
        const resolved = path.posix.join(path.posix.dirname(name), target!);
        expect(modules, `${name} imports ${target}`).toContain(resolved);
      }
      const r = await f.app.inject({ url: `/${name}` });
      expect(r.statusCode, name).toBe(200);
    }
  });
});

describe('dashboard markup', () => {
  const html = readFileSync(path.join(PUBLIC_DIR, 'index.html'), 'utf8');
  const els = parse(html);
  let fr: Record<string, string> = {};
  let en: Record<string, string> = {};
  beforeAll(async () => {
    const load = async (lang: string) =>
      (
        (await import(pathToFileURL(path.join(PUBLIC_DIR, 'i18n', `${lang}.js`)).href)) as Record<
          string,
          Record<string, string>
        >
      )[lang]!;
    fr = await load('fr');
    en = await load('en');
  });

  it('has every data-i18n key, and every key the modules ask for, in both catalogues', () => {
    expect(Object.keys(en).sort()).toEqual(Object.keys(fr).sort());
    const keys = els.flatMap((e) => (e.attrs['data-i18n'] ? [e.attrs['data-i18n']] : []));
    for (const name of readdirSync(PUBLIC_DIR).filter((n) => n.endsWith('.js'))) {
      const source = readFileSync(path.join(PUBLIC_DIR, name), 'utf8');
      for (const [, key] of source.matchAll(/\bt\('([a-z]+\.[A-Za-z-]+)'/g)) keys.push(key!);
      // tn('key', n) picks keyOne or keyOther by the language's plural rules.
      for (const [, key] of source.matchAll(/\btn\('([a-z]+\.[A-Za-z-]+)'/g))
        keys.push(`${key!}One`, `${key!}Other`);
    }
    expect(keys.length).toBeGreaterThan(50);
    for (const key of keys) {
      expect(fr[key], `fr: ${key}`).toBeTruthy();
      expect(en[key], `en: ${key}`).toBeTruthy();
    }
  });

  it('has no words in the markup: every text and label comes from the catalogues', () => {
    // Names that are the same in every language: the product, the networks, the switch's codes.
    const same = new Set(['sunset', 'X', 'Bluesky', 'Mastodon', 'FR', 'EN', '·', '—']);
    const open: { name: string; attrs: Record<string, string> }[] = [];
    const words: string[] = [];
    const parser = new Parser(
      {
        onopentag(name, attrs) {
          open.push({ name, attrs });
          for (const attr of ['aria-label', 'placeholder', 'title', 'alt'])
            if (attrs[attr]) words.push(`${name}[${attr}="${attrs[attr]}"]`);
          const key = attrs['data-i18n'] ?? attrs['data-i18n-label'];
          if (key && !(fr[key] && en[key])) words.push(`${name}: ${key} not in both catalogues`);
        },
        ontext(text) {
          const inside = open.at(-1);
          if (text.trim() && !same.has(text.trim()) && inside?.name !== 'script')
            words.push(`${inside?.name ?? '?'}: ${text.trim().slice(0, 40)}`);
        },
        onclosetag() {
          open.pop();
        },
      },
      { decodeEntities: true, lowerCaseTags: true },
    );
    parser.write(html);
    parser.end();
    expect(words).toEqual([]);
  });

  it('starts in French, with a skip link to the main content as the first link', () => {
    expect(els.find((e) => e.name === 'html')?.attrs.lang).toBe('fr');
    const links = els.filter((e) => e.name === 'a');
    const skip = links[0]!;
    const target = skip.attrs.href!.replace(/^#/, '');
    expect(fr[skip.attrs['data-i18n']!]).toBe('Aller au contenu');
    expect(els.find((e) => e.attrs.id === target)?.name).toBe('main');
  });

  it('has the landmarks, a polite status region and an assertive alert region', () => {
    for (const name of ['header', 'nav', 'main', 'footer'])
      expect(
        els.some((e) => e.name === name),
        name,
      ).toBe(true);
    const nav = els.find((e) => e.name === 'nav')!;
    expect(fr[nav.attrs['data-i18n-label']!]).toBeTruthy();
    expect(els.find((e) => e.attrs.role === 'status')?.attrs['aria-live']).toBe('polite');
    expect(els.find((e) => e.attrs.role === 'alert')?.attrs['aria-live']).toBe('assertive');
  });

  it('gives every field a label of its own', () => {
    const fields = els.filter(
      (e) =>
        ['input', 'select', 'textarea'].includes(e.name) &&
        !['hidden', 'submit', 'button', 'reset'].includes(e.attrs.type ?? ''),
    );
    expect(fields.length).toBeGreaterThanOrEqual(12);
    const labels = els.filter((e) => e.name === 'label');
    for (const field of fields) {
      const id = field.attrs.id;
      const label = labels.find((l) => id !== undefined && l.attrs.for === id);
      expect(label ?? (field.insideLabel ? field : undefined), `field ${id ?? field.name}`).toBeDefined();
      // A label's words are in the markup, or in the catalogues under its data-i18n key.
      const words = label?.attrs['data-i18n'] ? (fr[label.attrs['data-i18n']] ?? '') : label?.text;
      // A network's name is a label of its own, however short (the X checkbox).
      if (label && !['X', 'Bluesky', 'Mastodon'].includes(words!.trim()))
        expect(words!.trim().length, `label of ${id}`).toBeGreaterThan(2);
    }
    // Ids are unique, or a label could point at the wrong field.
    const ids = els.flatMap((e) => (e.attrs.id ? [e.attrs.id] : []));
    expect(new Set(ids).size).toBe(ids.length);
    // aria-describedby points at hints that exist.
    for (const e of els.filter((x) => x.attrs['aria-describedby']))
      for (const id of e.attrs['aria-describedby']!.split(/\s+/)) expect(ids, id).toContain(id);
  });

  it('has one h1 per screen and no heading level skipped within a screen', () => {
    const screens = els.filter((e) => e.attrs['data-screen']);
    expect(screens.map((s) => s.attrs['data-screen'])).toEqual([
      'connexion',
      'plan',
      'rediger',
      'file',
      'approbations',
      'crise',
      'journal',
      'images',
    ]);
    // Walk the headings in order; each screen starts again at h1.
    let last = 0;
    let h1s = 0;
    for (const e of els) {
      if (e.attrs['data-screen']) last = 0;
      const m = /^h([1-6])$/.exec(e.name);
      if (!m) continue;
      const level = Number(m[1]);
      if (level === 1) h1s += 1;
      expect(level, `${e.name} "${e.text.trim()}"`).toBeLessThanOrEqual(last + 1);
      last = level;
    }
    expect(h1s).toBe(screens.length);
  });

  it('loads no script inline and nothing from another origin', () => {
    for (const e of els.filter((x) => x.name === 'script')) {
      expect(e.attrs.src).toMatch(/^[a-z-]+\.js$/);
      expect(e.text.trim()).toBe('');
    }
    expect(html).not.toMatch(/\son[a-z]+="/i); // no inline event handlers either (CSP blocks them)
    expect(html).not.toMatch(/(src|href)="https?:/);
  });
});
