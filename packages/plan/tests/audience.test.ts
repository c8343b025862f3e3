import { describe, expect, it } from 'vitest';
import { audienceKeys, compile, formatDiagnostic, type AudienceAction } from '../src/index.ts';
import { check, MINIMAL } from './helpers.ts';

const lines = (r: ReturnType<typeof check>) => r.diagnostics.map(formatDiagnostic);

const AUDIENCE = `audience:
  starter_pack:
    name: Ville de Test et ses services
    description: Les comptes officiels de la Ville de Test.
  accounts:
    - name: Cabinet du maire
      relation: mayor
      bluesky: maire.test.fr
    - name: Médiathèques
      relation: service
      bluesky: "@bib.test.fr"
      mastodon: "@bib@social.test.fr"
    - name: Métropole
      relation: partner
      mastodon: "@metropole@mastodon.example"
`;

const withAudience = (audience = AUDIENCE) =>
  MINIMAL.replace(
    'Retrouvez-nous sur {bluesky.handle}',
    'Retrouvez-nous sur {bluesky.handle} et {bluesky.starter_pack}',
  ) + audience;

describe('audience in the plan', () => {
  it('is valid, and {bluesky.starter_pack} is the pack link with a key derived from the organisation', () => {
    const r = check(withAudience());
    expect(lines(r).filter((l) => l.includes('error'))).toEqual([]);
    expect(r.ok).toBe(true);
    const compiled = compile(r.plan!);
    const rkey = audienceKeys('ville-test').starterPack;
    expect(rkey).toMatch(/^[234567a-j][234567a-z]{12}$/);
    const farewell = compiled.actions.find((a) => a.kind === 'post' && a.postId === 'farewell');
    expect(farewell?.kind === 'post' && farewell.text).toContain(
      `https://bsky.app/starter-pack/test.fr/${rkey}`,
    );
    const step = compiled.actions.find((a): a is AudienceAction => a.kind === 'audience');
    expect(step?.audience.handles).toEqual(['test.fr', 'maire.test.fr', 'bib.test.fr']);
    // An hour before the first post (sunset - 7d), and first in the list.
    expect(step?.at.toISOString()).toBe('2027-01-13T07:00:00.000Z');
    expect(compiled.actions[0]).toBe(step);
  });

  it('gives a changed audience a new step id, and the same plan the same one', () => {
    const a = compile(check(withAudience()).plan!).actions.find((x) => x.kind === 'audience');
    const b = compile(check(withAudience()).plan!).actions.find((x) => x.kind === 'audience');
    const c = compile(
      check(withAudience(AUDIENCE.replace('maire.test.fr', 'cabinet.test.fr'))).plan!,
    ).actions.find((x) => x.kind === 'audience');
    expect(a?.id).toBe(b?.id);
    expect(c?.id).not.toBe(a?.id);
    expect(a?.id).toMatch(/^audience\.bluesky\.[0-9a-f]{12}$/);
  });

  it('says where and why an audience is wrong', () => {
    const bad = `audience:
  starter_pack:
    name: ${'Ville de Test, ses services et ses partenaires'.padEnd(55, '!')}
  accounts:
    - name: Personne
      relation: service
    - name: Doublon
      relation: partner
      bluesky: test.fr
    - name: Inconnu
      relation: cousin
      bluesky: a.b
`;
    const r = check(withAudience(bad));
    expect(r.ok).toBe(false);
    const out = lines(r).join('\n');
    expect(out).toMatch(/audience\.starter_pack\.name {2}55 graphemes; Bluesky takes at most 50/);
    expect(out).toMatch(/audience\.accounts\[0\] {2}this account has neither bluesky nor mastodon/);
    expect(out).toMatch(
      /audience\.accounts\[1\]\.bluesky {2}test\.fr is already listed at networks\.bluesky\.handle/,
    );
    expect(out).toMatch(/audience\.accounts\[2\]\.relation .*own.*service.*mayor.*partner/);
  });

  it('refuses {bluesky.starter_pack} without a starter pack', () => {
    const r = check(
      withAudience(
        'audience:\n  accounts:\n    - name: M\n      relation: mayor\n      bluesky: m.test.fr\n',
      ),
    );
    expect(lines(r)).toContainEqual(
      expect.stringMatching(/posts\[1\]\.text {2}\{bluesky\.starter_pack\} needs audience\.starter_pack/),
    );
  });
});
