import { describe, expect, it } from 'vitest';
import { formatDiagnostic, validatePlan } from '../src/index.ts';
import {
  check,
  MINIMAL,
  planDir,
  referenceMissing,
  referenceText,
  referenceTextAsWritten,
} from './helpers.ts';

const errors = (r: ReturnType<typeof check>) => r.diagnostics.filter((d) => d.severity === 'error');
const warnings = (r: ReturnType<typeof check>) => r.diagnostics.filter((d) => d.severity === 'warning');
const lines = (r: ReturnType<typeof check>) => r.diagnostics.map(formatDiagnostic);

describe.skipIf(referenceMissing)(
  `the reference plan${referenceMissing ? ` (${referenceMissing})` : ''}`,
  () => {
    it('is refused as written only for its secrets outside the namespace', () => {
      const r = check(referenceTextAsWritten(), new Date('2024-12-01T00:00:00Z'));
      const refused = errors(r);
      // Its six env: names lack the VILLE_DE_TOURS__ prefix, its one file: is an absolute path.
      expect(refused).toHaveLength(7);
      for (const d of refused) {
        expect(d.path).toMatch(/^networks\.(x|bluesky|mastodon)\.credentials\./);
        expect(d.message).toMatch(/ville-de-tours's plan may only name/);
      }
    });

    it('is accepted with its secrets in its namespace', () => {
      const r = check(referenceText(), new Date('2024-12-01T00:00:00Z'));
      expect(errors(r)).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.plan?.sunset.toISOString()).toBe('2025-01-20T08:00:00.000Z');
    });

    it('warns that its dates are in the past when validated today', () => {
      const r = check(referenceText(), new Date('2026-11-21T12:00:00Z'));
      expect(r.ok).toBe(true);
      expect(warnings(r).some((d) => d.path === 'sunset.at' && /in the past/.test(d.message))).toBe(true);
    });
  },
);

describe('a minimal plan', () => {
  it('is valid with no diagnostics', () => {
    const r = check(MINIMAL);
    expect(r.diagnostics).toEqual([]);
    expect(r.ok).toBe(true);
  });
});

describe('every problem is reported, with its place', () => {
  it('reports five different mistakes at once', () => {
    const text = MINIMAL.replace('  locale: fr-FR\n', '  locale: fr-FR\n  colour: blue\n') // unknown field
      .replace('at: sunset - 7d', 'at: sunset minus 7 days') // bad time expression
      .replace('{mastodon.url}.', '{mastodon.link}.') // unknown placeholder
      .replace('access_token: env:VILLE_TEST__MASTO_TOKEN', 'access_token: 9f8e7d6c5b4a39281706f5e4d3c2b1a0') // literal secret
      .replace('  - id: farewell', '  - id: announce'); // duplicate id
    const r = check(text);
    expect(r.ok).toBe(false);
    const out = lines(r);
    expect(out).toEqual([
      'plan.yaml:7:3  organisation.colour  unknown field "colour" (allowed here: id, name, timezone, locale, website)',
      'plan.yaml:26:21  networks.mastodon.credentials.access_token  this looks like a secret written into the plan; write where to read it instead: env:VILLE_TEST__MASTODON_ACCESS_TOKEN or file:mastodon_access_token (and revoke the secret if this file was shared)',
      'plan.yaml:32:9  posts[0].at  "sunset minus 7 days" is not a time expression: write a local time (2027-01-20T09:00) or one relative to the sunset (sunset, sunset - 7d, sunset + 2h)',
      expect.stringMatching(
        /^plan\.yaml:34:11 {2}posts\[0\]\.text {2}unknown placeholder \{mastodon\.link\}; did you mean \{mastodon\.url\}\? \(placeholders: \{sunset\.date\}/,
      ),
      'plan.yaml:35:9  posts[1].id  duplicate post id "announce": posts[0] (line 31) already uses it',
    ]);
    expect(out.join('\n')).not.toContain('9f8e7d6c5b4a39281706f5e4d3c2b1a0');
  });

  it('points at a YAML syntax error', () => {
    const text = MINIMAL.replace('  name: Ville de Test\n', '  name: "Ville de Test\n');
    const r = check(text);
    expect(r.ok).toBe(false);
    const [first] = errors(r);
    expect(first?.line).toBeGreaterThanOrEqual(4);
    expect(first?.message).toMatch(/^YAML: /);
  });

  it('points at a key written twice', () => {
    const r = check(
      MINIMAL.replace('  timezone: Europe/Paris\n', '  timezone: Europe/Paris\n  timezone: Europe/Paris\n'),
    );
    expect(lines(r)).toContainEqual(expect.stringMatching(/^plan\.yaml:6:3 .*written twice/));
  });

  it('reports an empty file', () => {
    expect(lines(check(''))).toEqual([
      'plan.yaml:1:1  (plan)  the plan is empty: it needs at least version, organisation, networks and sunset',
    ]);
  });

  it('reports missing fields at their parent', () => {
    const r = check(MINIMAL.replace('  x_after: crisis-only\n', ''));
    expect(lines(r)).toContainEqual(
      expect.stringMatching(
        /^plan\.yaml:27:3 {2}sunset\.x_after {2}missing required field "x_after" — crisis-only: X takes crisis posts only;/,
      ),
    );
  });

  it('suggests the field that was meant', () => {
    const r = check(MINIMAL.replace('    on: [x, bluesky]\n', '    onn: [x, bluesky]\n'));
    expect(lines(r)).toContainEqual(expect.stringContaining('unknown field "onn"; did you mean "on"?'));
    expect(lines(r)).toContainEqual(expect.stringContaining('missing required field "on"'));
  });

  it('names the allowed values of a choice', () => {
    const r = check(MINIMAL.replace('x_after: crisis-only', 'x_after: crisis'));
    expect(lines(r)).toContainEqual(
      'plan.yaml:28:12  sunset.x_after  the text "crisis" is not allowed here; write one of: crisis-only, frozen, leave (did you mean "crisis-only"?)',
    );
  });

  it('refuses a post aimed at a network the plan does not configure', () => {
    const text = MINIMAL.replace(/ {2}mastodon:\n(?: {4}.*\n)+/, '').replace(
      /Bluesky \{bluesky\.url\} et Mastodon \{mastodon\.url\}/,
      'Bluesky {bluesky.url}',
    );
    const r = check(text);
    expect(lines(r)).toEqual([
      'plan.yaml:27:22  posts[0].on[2]  this post is aimed at Mastodon, but the plan does not configure it; add networks.mastodon or remove it here',
      'plan.yaml:32:11  posts[1].text  {mastodon.handle} needs networks.mastodon, which the plan does not configure',
    ]);
  });

  it('refuses a placeholder for a network that is not configured', () => {
    const text = MINIMAL.replace(/ {2}mastodon:\n(?: {4}.*\n)+/, '').replace(
      'on: [x, bluesky, mastodon]',
      'on: [x]',
    );
    const r = check(text);
    expect(lines(r).filter((l) => l.includes('needs networks.mastodon'))).toHaveLength(2);
  });

  it('refuses an image without alt text, and one whose file is missing', () => {
    const text = `${MINIMAL}    images:
      - file: assets/demenagement.png
      - file: assets/absent.png
        alt: "Une carte postale"
      - file: assets/demenagement.png
        alt: "  "
`;
    const r = check(text);
    const out = lines(r);
    expect(out).toContainEqual(
      expect.stringMatching(
        /^plan\.yaml:39:9 {2}posts\[1\]\.images\[0\]\.alt {2}missing required field "alt" — alternative text read by screen readers: required on every image \(RGAA\)$/,
      ),
    );
    expect(out).toContainEqual(
      expect.stringMatching(
        /^plan\.yaml:40:15 {2}posts\[1\]\.images\[1\]\.file {2}image file not found: assets\/absent\.png/,
      ),
    );
    expect(out).toContainEqual(
      expect.stringMatching(
        /^plan\.yaml:43:14 {2}posts\[1\]\.images\[2\]\.alt {2}the alternative text is empty/,
      ),
    );
  });

  it('refuses a text over the limit when overflow is error, in plain words', () => {
    const long = 'Un message très long pour dire au revoir à toutes et à tous. '.repeat(6);
    const text = MINIMAL.replace(
      'text: Merci et au revoir. Retrouvez-nous sur {bluesky.handle} et {mastodon.handle}.',
      `overflow: error\n    text: "${long}https://www.test.fr/au-revoir"`,
    );
    const r = check(text);
    const x = errors(r).find((d) => d.path === 'posts[1].text' && d.message.includes('for X'));
    expect(x?.message).toMatch(
      /^\d+ characters for X; the limit is 280 \(a link counts as 23\), and overflow is "error"/,
    );
    expect(errors(r).some((d) => d.message.includes('for Bluesky'))).toBe(true);
  });

  it('refuses a character X refuses in a text going to X, and only there', () => {
    const r = check(MINIMAL.replace('Merci et au revoir.', 'Merci\uFFFE et au revoir.'));
    const x = errors(r).filter((d) => d.path === 'posts[1].text');
    expect(x.map((d) => d.message)).toEqual([
      "contains U+FFFE at character 6, which X refuses (twitter-text's invalid characters); remove it",
    ]);
    const elsewhere = check(
      MINIMAL.replace('Merci et au revoir.', 'Merci\uFFFE et au revoir.').replace(
        '    on: [x, bluesky]\n',
        '    on: [bluesky]\n',
      ),
    );
    expect(errors(elsewhere).filter((d) => d.path === 'posts[1].text')).toEqual([]);
  });

  it('takes crisis.cap: a language list and the texts for a Cancel or an Update without <info>', () => {
    const withCap = `${MINIMAL.trimEnd()}\ncrisis:\n  on: [bluesky]\n  cap:\n    languages: [fr, en-GB]\n    cancel_text: Fin de l’alerte.\n    update_text: L’alerte évolue.\n`;
    expect(errors(check(withCap))).toEqual([]);
    const bad = check(withCap.replace('[fr, en-GB]', '[fr, "en GB"]'));
    expect(errors(bad).map((d) => d.path)).toContain('crisis.cap.languages[1]');
  });

  it('takes crisis.feeds and says where and why a feed is wrong', () => {
    const feeds = `${MINIMAL.trimEnd()}\ncrisis:\n  on: [bluesky]\n  feeds:\n    - url: https://feeds.example.org/meteoalarm-legacy-atom-france\n      areas: [FR372, FR373]\n      min_severity: Moderate\n      awareness_levels: [orange, red]\n      events: [Thunderstorm, Flooding]\n      mode: post\n      post_at: red\n      interval: 2m\n`;
    expect(errors(check(feeds))).toEqual([]);
    const bad = check(
      feeds
        .replace('min_severity: Moderate', 'min_severity: Serious')
        .replace('[orange, red]', '[orange, purple]')
        .replace('mode: post', 'mode: approve')
        .replace('interval: 2m', 'interval: 0s'),
    );
    expect(errors(bad).map((d) => `${d.path}: ${d.message}`)).toEqual([
      expect.stringMatching(/^crisis\.feeds\[0\]\.min_severity: .*Minor, Moderate, Severe, Extreme/),
      expect.stringMatching(/^crisis\.feeds\[0\]\.awareness_levels\[1\]: .*yellow, orange, red/),
      expect.stringMatching(/^crisis\.feeds\[0\]\.post_at: post_at is the threshold of mode: post/),
      expect.stringMatching(/^crisis\.feeds\[0\]\.interval: must be at least 1s/),
    ]);
    const twice = check(
      `${feeds.trimEnd()}\n    - url: https://feeds.example.org/meteoalarm-legacy-atom-france\n      interval: 30s\n`,
    );
    expect(errors(twice).map((d) => `${d.path}: ${d.message}`)).toEqual([
      'crisis.feeds[1].url: this feed is already watched by crisis.feeds[0]; list each feed once',
    ]);
    expect(warnings(twice).map((d) => d.path)).toContain('crisis.feeds[1].interval');
    const notUrl = check(
      feeds.replace('https://feeds.example.org/meteoalarm-legacy-atom-france', 'feeds.example.org'),
    );
    expect(errors(notUrl).map((d) => d.path)).toEqual(['crisis.feeds[0].url']);
    // Areas by name and by point, latitude first; a point out of range says which half is wrong.
    const points = feeds.replace('[FR372, FR373]', '[FR372, Loir-et-Cher, "47.39,0.69", "-33.87, 151.21"]');
    expect(errors(check(points))).toEqual([]);
    const swapped = check(
      points.replace('"47.39,0.69"', '"0.69,247.39"').replace('"-33.87, 151.21"', '"-93.8,1"'),
    );
    expect(errors(swapped).map((d) => `${d.path}: ${d.message}`)).toEqual([
      'crisis.feeds[0].areas[2]: "0.69,247.39" reads as a point (latitude,longitude in decimal degrees), but longitude 247.39 is outside -180…180',
      'crisis.feeds[0].areas[3]: "-93.8,1" reads as a point (latitude,longitude in decimal degrees), but latitude -93.8 is outside -90…90',
    ]);
  });

  it('warns when a post will become a thread', () => {
    const long = 'Un message très long pour dire au revoir à toutes et à tous. '.repeat(6);
    const r = check(MINIMAL.replace('Merci et au revoir.', long));
    expect(r.ok).toBe(true);
    expect(warnings(r).map((d) => d.message)).toContainEqual(
      expect.stringMatching(/for X; the limit is 280: on X it will be a thread of 2 posts$/),
    );
  });

  it('checks time expressions, dates and time zones', () => {
    const r = check(
      MINIMAL.replace('timezone: Europe/Paris', 'timezone: Europe/Tours').replace(
        'at: 2027-01-20T09:00',
        'at: 2027-02-30T09:00',
      ),
    );
    expect(lines(r)).toEqual([
      'plan.yaml:5:13  organisation.timezone  "Europe/Tours" is not an IANA time zone; e.g. "Europe/Paris"',
    ]);
    const r2 = check(MINIMAL.replace('at: 2027-01-20T09:00', 'at: 2027-02-30T09:00'));
    expect(lines(r2)).toEqual(['plan.yaml:27:7  sunset.at  "2027-02-30T09:00": 2027-02 has no day 30']);
    const r3 = check(MINIMAL.replace('at: 2027-01-20T09:00', 'at: sunset + 1d'));
    expect(lines(r3)).toEqual([
      'plan.yaml:27:7  sunset.at  "sunset + 1d" is relative to the sunset; the sunset itself needs a date and time',
    ]);
  });

  it('refuses posts on X after the sunset when X is crisis-only, and ordinary posts mirrored to X', () => {
    const r = check(
      `${MINIMAL.replace('at: sunset\n', 'at: sunset + 1h\n')}mirror:\n  after_sunset: [x, bluesky]\n`,
    );
    expect(lines(r)).toEqual([
      'plan.yaml:36:9  posts[1].on  this post is due after the sunset, when X takes crisis posts only (sunset.x_after: crisis-only); remove x from "on" or move the post before the sunset',
      'plan.yaml:39:18  mirror.after_sunset[0]  after the sunset X takes no ordinary posts (sunset.x_after: crisis-only); remove x from mirror.after_sunset',
    ]);
  });

  it('changes nothing and returns no plan when invalid', () => {
    const r = check(MINIMAL.replace('version: 1', 'version: 2'));
    expect(r.ok).toBe(false);
    expect(r.plan).toBeUndefined();
    expect(lines(r)).toEqual(['plan.yaml:1:10  version  must be 1, not the number 2']);
  });
});

describe('warnings about time', () => {
  it('warns about a local time in the spring DST gap and says which instant is used', () => {
    const r = check(MINIMAL.replace('at: sunset - 7d', 'at: 2026-03-29T02:30'));
    const w = warnings(r).find((d) => d.path === 'posts[0].at');
    expect(w?.message).toBe(
      '2026-03-29 02:30 does not exist in Europe/Paris (the clocks go forward); 2026-03-29 03:30 (UTC+02:00), 2026-03-29T01:30:00.000Z, is used',
    );
    expect(r.ok).toBe(true);
  });

  it('warns about a local time in the autumn DST overlap and uses the first one', () => {
    const r = check(MINIMAL.replace('at: sunset - 7d', 'at: 2026-10-25T02:30'));
    const w = warnings(r).find((d) => d.path === 'posts[0].at');
    expect(w?.message).toBe(
      '2026-10-25 02:30 happens twice in Europe/Paris (the clocks go back); the first, 2026-10-25 02:30 (UTC+02:00) = 2026-10-25T00:30:00.000Z, is used, not 2026-10-25T01:30:00.000Z',
    );
  });

  it('warns about a time in the past', () => {
    const r = check(MINIMAL, new Date('2027-01-15T00:00:00Z'));
    expect(r.ok).toBe(true);
    expect(lines(r)).toEqual([
      'plan.yaml:31:9  posts[0].at  warning: 2027-01-13 09:00 (UTC+01:00) is in the past: this will run as soon as the plan is applied',
    ]);
  });
});

describe('input that is not a plan', () => {
  it('reports a list where a mapping belongs', () => {
    const r = validatePlan('- a\n- b\n', { file: 'p.yaml', baseDir: planDir('').dir });
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      'p.yaml:1:1  (plan)  must be a mapping (key: value lines), not a list',
    ]);
  });
});

describe("the organisation's namespace", () => {
  it('refuses an id with "--", which would make its variable prefix ambiguous, saying the rule', () => {
    const r = check(MINIMAL.replace('id: ville-test', 'id: ville--test'));
    expect(r.ok).toBe(false);
    const [problem] = errors(r);
    expect(problem?.path).toBe('organisation.id');
    expect(problem?.message).toContain('"ville--test" is not a valid organisation id');
    expect(problem?.message).toContain('no "--"');
    // Without a valid id no namespace can be judged: the references are not reported as well.
    expect(errors(r)).toHaveLength(1);
  });

  it('refuses references outside it at their place, naming the namespace only', () => {
    const r = check(
      MINIMAL.replace('env:VILLE_TEST__X_APP_KEY', 'env:VILLE_VOISINE__X_APP_KEY').replace(
        'file:x_access_secret',
        'file:/run/secrets/postgres_password',
      ),
    );
    expect(lines(r)).toEqual([
      "plan.yaml:12:16  networks.x.credentials.app_key  ville-test's plan may only name environment variables starting with VILLE_TEST__, e.g. env:VILLE_TEST__X_APP_KEY",
      "plan.yaml:15:22  networks.x.credentials.access_secret  ville-test's plan may only name files inside its own secrets folder (SUNSET_SECRETS_DIR/ville-test/): write file:<name>, a path relative to that folder, e.g. file:x_access_token",
    ]);
  });
});
