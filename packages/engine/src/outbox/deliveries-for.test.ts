// The deliveries of a post: one per network, each with its parts and the hash of those parts.
// Networks given the same text share one hash; a network with a variant of its own gets another.
import { createHash } from 'node:crypto';
import { canonicalJson } from '@sunset/core';
import type { PlanDocument } from '@sunset/plan';
import { describe, expect, it } from 'vitest';
import type { OrgSettings } from './org-settings.ts';
import type { StoredContent } from './post-types.ts';
import { deliveriesFor } from './posts.ts';

const settings = {
  organisationId: 'org-a',
  organisationName: 'Org A',
  version: 3,
  sunset: new Date('2030-01-01T00:00:00Z'),
  xAfter: 'crisis-only',
  document: {
    organisation: { name: 'Org A', locale: 'fr-FR' },
    networks: { x: {}, bluesky: {}, mastodon: { limits: { max_characters: 60 } } },
    crisis: { on: ['x', 'bluesky', 'mastodon'], label: 'ALERTE' },
  } as unknown as PlanDocument,
} as OrgSettings;

const content = (variants?: StoredContent['variants']): StoredContent => ({
  text: 'Crue de la Loire : évitez les quais, suivez les consignes des secours sur place.',
  ...(variants ? { variants } : {}),
  images: [{ sha256: 'ab12', mediaType: 'image/png', alt: 'carte' }],
  language: 'fr-FR',
  networks: ['x', 'bluesky', 'mastodon'],
  at: '2030-01-01T00:00:00.000Z',
  sentBy: { person: 'alice', token: 'duty' },
});

const hashOf = (parts: unknown) => createHash('sha256').update(canonicalJson(parts)).digest('hex');

describe('deliveriesFor', () => {
  it('hashes each delivery’s parts, shared only where the parts are the same', () => {
    const plain = deliveriesFor(settings, { id: 'c-1', source: 'crisis' }, content(), [
      'x',
      'bluesky',
      'mastodon',
    ]);
    for (const d of plain) expect(d.contentHash).toBe(hashOf(d.parts));
    const [x, bluesky, mastodon] = plain;
    expect(x?.contentHash).toBe(bluesky?.contentHash);
    // Mastodon's limit of 60 makes a thread of the same text: other parts, another hash.
    expect(mastodon?.parts.length).toBeGreaterThan(1);
    expect(mastodon?.contentHash).not.toBe(x?.contentHash);

    const varied = deliveriesFor(settings, { id: 'c-2', source: 'crisis' }, content({ bluesky: 'Crue.' }), [
      'x',
      'bluesky',
    ]);
    for (const d of varied) expect(d.contentHash).toBe(hashOf(d.parts));
    expect(varied[0]?.contentHash).not.toBe(varied[1]?.contentHash);
    expect(varied[1]?.parts.map((p) => p.text)).toEqual(['ALERTE Crue.']);
  });
});
