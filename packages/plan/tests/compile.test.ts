import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, compile, type PostAction } from '../src/index.ts';
import { check, MINIMAL, referenceMissing, referenceText } from './helpers.ts';

// What the code before this hash function gave for MINIMAL's farewell on X.
const PINNED_FAREWELL_HASH = '27f616953bfc22ff7bd45f90169f575c097b520a49cf6cec8b9faf0a9f7c6f51';

function compiled(text: string) {
  const r = check(text, new Date('2024-06-01T00:00:00Z'));
  if (!r.plan) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return compile(r.plan);
}

describe('compile', () => {
  it.skipIf(referenceMissing)(
    `gives the reference plan its meaning${referenceMissing ? ` (${referenceMissing})` : ''}`,
    () => {
      const c = compiled(referenceText());
      expect(c.organisationId).toBe('ville-de-tours');
      expect(c.sunset.toISOString()).toBe('2025-01-20T08:00:00.000Z');
      expect(c.actions.map((a) => `${a.at.toISOString()} ${a.id}`)).toEqual([
        '2025-01-13T08:00:00.000Z post.announce-j7.x.1',
        '2025-01-20T08:00:00.000Z post.farewell.x.1',
        '2025-01-20T08:00:00.000Z post.farewell.bluesky.1',
        '2025-01-20T08:00:00.000Z post.farewell.mastodon.1',
        '2025-01-20T08:00:00.000Z policy.x',
        '2025-01-20T08:05:00.000Z profile.x',
      ]);
      const announce = c.actions[0] as PostAction;
      expect(announce.text).toBe(
        "Le 20 janvier 2025, la Ville de Tours arrête de publier sur X. Retrouvez toute l'actualité de Tours sur Bluesky https://bsky.app/profile/tours.fr et sur Mastodon https://social.tours.fr/@ville.",
      );
      expect(announce.images).toHaveLength(1);
      expect(announce.images[0]?.alt).toBe(
        'Carte postale : la Ville de Tours déménage sur Bluesky et Mastodon',
      );
      expect(announce.images[0]?.mediaType).toBe('image/png');
      expect(announce.language).toBe('fr-FR');
      const bsky = c.actions.find((a) => a.id === 'post.farewell.bluesky.1') as PostAction;
      expect(bsky.text).toBe('Bienvenue aux Tourangelles et Tourangeaux qui nous rejoignent ici ! 👋');
      const masto = c.actions.find((a) => a.id === 'post.farewell.mastodon.1') as PostAction;
      expect(masto.text).toContain('@tours.fr sur Bluesky, @ville@social.tours.fr sur Mastodon.');
      const profile = c.actions.find((a) => a.kind === 'profile');
      expect(profile?.kind === 'profile' && profile.profile).toMatchObject({
        name: 'Ville de Tours (compte en veille)',
        bio: 'Compte en veille depuis le 20 janvier 2025, conservé pour la communication de crise. Actualité : @tours.fr (Bluesky) · @ville@social.tours.fr (Mastodon)',
        url: 'https://www.tours.fr/reseaux-sociaux',
        location: 'Tours',
        banner: { kind: 'generate', generator: 'flat-ecg', caption: 'Compte en veille', colour: '#00435c' },
        avatar: { kind: 'keep' },
      });
      const policy = c.actions.find((a) => a.kind === 'policy');
      expect(policy?.kind === 'policy' && policy.mode).toBe('crisis-only');
    },
  );

  it('writes the date in the plan\'s language, with "1er" for the first of the month in French', () => {
    const first = compiled(MINIMAL.replace('at: 2027-01-20T09:00', 'at: 2027-03-01T09:00'));
    expect((first.actions[0] as PostAction).text).toMatch(/^Le 1er mars 2027, nous quittons X\./);
    const english = compiled(MINIMAL.replace('locale: fr-FR', 'locale: en-GB'));
    expect((english.actions[0] as PostAction).text).toMatch(/^Le 20 January 2027, nous/);
  });

  it('is stable: the same plan gives the same ids and hashes', () => {
    const a = compiled(MINIMAL);
    const b = compiled(MINIMAL);
    expect(b.actions.map((x) => [x.id, x.contentHash])).toEqual(a.actions.map((x) => [x.id, x.contentHash]));
  });

  it('changes only the edited post’s hashes', () => {
    const a = compiled(MINIMAL);
    const b = compiled(MINIMAL.replace('Merci et au revoir.', 'Merci, et au revoir !'));
    const changed = b.actions.filter((x, i) => x.contentHash !== a.actions[i]?.contentHash).map((x) => x.id);
    expect(b.actions.map((x) => x.id)).toEqual(a.actions.map((x) => x.id));
    expect(changed).toEqual(['post.farewell.x.1', 'post.farewell.bluesky.1']);
  });

  it('hashes a post part as the canonical JSON of its content, as applied plans stored it', () => {
    const withImage = MINIMAL.replace(
      '    on: [x, bluesky]\n',
      '    on: [x, bluesky]\n    images:\n      - file: assets/demenagement.png\n        alt: Une carte postale\n',
    );
    const long = 'Un message très long pour dire au revoir à toutes et à tous. '.repeat(6).trim();
    const c = compiled(withImage.replace('Merci et au revoir.', long));
    const posts = c.actions.filter((a): a is PostAction => a.kind === 'post');
    expect(posts.some((p) => p.images.length > 0)).toBe(true);
    expect(posts.some((p) => p.parts > 1)).toBe(true);
    for (const p of posts) {
      const content = {
        kind: 'post',
        network: p.network,
        part: p.part,
        parts: p.parts,
        text: p.text,
        language: p.language,
        images: p.images.map((im) => ({ sha256: im.sha256, alt: im.alt, mediaType: im.mediaType })),
      };
      expect(p.contentHash).toBe(createHash('sha256').update(canonicalJson(content)).digest('hex'));
    }
    // Pinned: a change here would make every stored delivery look changed on the next apply.
    const farewell = compiled(MINIMAL).actions.find((a) => a.id === 'post.farewell.x.1');
    expect(farewell?.contentHash).toBe(PINNED_FAREWELL_HASH);
  });

  it('keeps the local clock time for day offsets across a DST change', () => {
    // Sunset on 2027-04-02 09:00 (UTC+2); seven days earlier is before the change (UTC+1).
    const c = compiled(MINIMAL.replace('at: 2027-01-20T09:00', 'at: 2027-04-02T09:00'));
    const announce = c.actions.find((a) => a.id === 'post.announce.x.1');
    expect(announce?.at.toISOString()).toBe('2027-03-26T08:00:00.000Z');
    expect(announce?.atLocal).toBe('2027-03-26 09:00 (UTC+01:00)');
    expect(c.sunset.toISOString()).toBe('2027-04-02T07:00:00.000Z');
  });

  it('counts hours as elapsed time across a DST change', () => {
    const c = compiled(
      MINIMAL.replace('at: 2027-01-20T09:00', 'at: 2027-03-28T01:00')
        .replace('at: sunset - 7d', 'at: sunset + 2h')
        .replace('x_after: crisis-only', 'x_after: leave'),
    );
    const announce = c.actions.find((a) => a.id === 'post.announce.x.1');
    expect(announce?.atLocal).toBe('2027-03-28 04:00 (UTC+02:00)');
  });

  it('turns a long post into numbered thread parts, each replying to the one before', () => {
    const long = 'Un message très long pour dire au revoir à toutes et à tous. '.repeat(6).trim();
    const c = compiled(MINIMAL.replace('Merci et au revoir.', long));
    const posts = c.actions.filter((a): a is PostAction => a.kind === 'post');
    const parts = posts.filter((a) => a.postId === 'farewell' && a.network === 'x');
    expect(parts.length).toBeGreaterThan(1);
    parts.forEach((p, i) => {
      expect(p.id).toBe(`post.farewell.x.${i + 1}`);
      expect(p.parts).toBe(parts.length);
      expect(p.replyTo).toBe(i === 0 ? undefined : `post.farewell.x.${i}`);
      expect(p.length.fits).toBe(true);
      expect(p.text.endsWith(` ${i + 1}/${parts.length}`)).toBe(true);
    });
    // Each network is split by its own limit: Bluesky's 300 graphemes give its own numbering.
    const bsky = posts.filter((a) => a.postId === 'farewell' && a.network === 'bluesky');
    bsky.forEach((p, i) => expect(p.text.endsWith(` ${i + 1}/${bsky.length}`)).toBe(true));
    expect(bsky.every((p) => p.length.fits)).toBe(true);
  });

  it('gives a checklist for what X cannot do through its API', () => {
    const c = compiled(MINIMAL.replace('x_after: crisis-only', 'x_after: leave'));
    const policy = c.actions.find((a) => a.kind === 'policy');
    expect(policy?.kind === 'policy' && policy.checklist.join(' ')).toContain(
      'Deactivate @VilleTest by hand',
    );
  });
});
