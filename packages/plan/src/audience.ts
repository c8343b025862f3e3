/**
 * The audience of a plan: the accounts people should follow after X (the plan's own first), and
 * the record keys of the Bluesky list and starter pack the worker keeps of them. The keys are
 * derived from the organisation id, so the pack's link is known when the plan is compiled, and
 * every run of the worker aims at the same records.
 */
import { createHash } from 'node:crypto';
import type { AudienceAccountDocument, PlanDocument } from './schema.ts';

/** What the audience is read from: a plan, or the settings the store keeps of one. */
export type AudienceSource = Pick<PlanDocument, 'organisation' | 'networks' | 'audience'>;

export type AudienceRelation = AudienceAccountDocument['relation'] | 'main';

export interface AudienceMember {
  name: string;
  relation: AudienceRelation;
  /** Without the "@". */
  bluesky?: string;
  /** "@name@server". */
  mastodon?: string;
  /** The Mastodon profile's address, from the account (https://server/@name). */
  mastodonUrl?: string;
  website?: string;
}

const S32 = '234567abcdefghijklmnopqrstuvwxyz';
/** Keys are placed in a window from 2023-01-01 lasting 2^46 µs, as post keys are (networks' record-key.ts). */
const WINDOW_START_US = BigInt(Date.UTC(2023, 0, 1)) * 1000n;

/**
 * A TID-shaped record key (13 characters of sortable base32: 53 bits of microseconds, a 10-bit
 * clock id) derived from `seed`: the starter pack lexicon asks for TID keys.
 */
export function derivedRecordKey(seed: string): string {
  const digest = createHash('sha256').update(`sunset:bluesky:${seed}`, 'utf8').digest();
  const bits = digest.readBigUInt64BE(0);
  const micros = WINDOW_START_US + (bits >> 18n);
  const clockId = (bits >> 8n) & 1023n;
  const value = (micros << 10n) | clockId;
  let out = '';
  for (let i = 12; i >= 0; i--) out += S32[Number((value >> BigInt(i * 5)) & 31n)];
  return out;
}

export interface AudienceKeys {
  list: string;
  starterPack: string;
}

export function audienceKeys(organisationId: string): AudienceKeys {
  return {
    list: derivedRecordKey(`audience-list:${organisationId}`),
    starterPack: derivedRecordKey(`audience-starterpack:${organisationId}`),
  };
}

/** The key of the list item that puts `did` on the organisation's list. */
export function listItemKey(organisationId: string, did: string): string {
  return derivedRecordKey(`audience-listitem:${organisationId}:${did}`);
}

const bare = (handle: string) => handle.replace(/^@/, '').toLowerCase();

/** The pack's bsky.app link, or undefined when the plan has no pack (or no Bluesky account). */
export function starterPackUrl(doc: AudienceSource): string | undefined {
  const bluesky = doc.networks.bluesky;
  if (!bluesky || !doc.audience?.starter_pack) return undefined;
  return `https://bsky.app/starter-pack/${bare(bluesky.handle)}/${audienceKeys(doc.organisation.id).starterPack}`;
}

export function mastodonProfileUrl(account: string, instance?: string): string {
  const [user, server] = account.replace(/^@/, '').split('@');
  const base = instance ? instance.replace(/\/+$/, '') : `https://${server}`;
  return `${base}/@${user}`;
}

/** The accounts to follow: the plan's own (networks) first, then audience.accounts in their order. */
export function audienceMembers(doc: AudienceSource): AudienceMember[] {
  const { bluesky, mastodon } = doc.networks;
  const members: AudienceMember[] = [];
  if (bluesky || mastodon) {
    members.push({
      name: doc.organisation.name,
      relation: 'main',
      ...(bluesky ? { bluesky: bare(bluesky.handle) } : {}),
      ...(mastodon
        ? {
            mastodon: `@${mastodon.account.replace(/^@/, '')}`,
            mastodonUrl: mastodonProfileUrl(mastodon.account, mastodon.instance),
          }
        : {}),
      ...(doc.organisation.website ? { website: doc.organisation.website } : {}),
    });
  }
  for (const a of doc.audience?.accounts ?? []) {
    members.push({
      name: a.name,
      relation: a.relation,
      ...(a.bluesky ? { bluesky: bare(a.bluesky) } : {}),
      ...(a.mastodon
        ? { mastodon: `@${a.mastodon.replace(/^@/, '')}`, mastodonUrl: mastodonProfileUrl(a.mastodon) }
        : {}),
      ...(a.website ? { website: a.website } : {}),
    });
  }
  return members;
}

/** The distinct Bluesky handles of the audience, the plan's own first: what the list holds. */
export function audienceBlueskyHandles(doc: AudienceSource): string[] {
  return [...new Set(audienceMembers(doc).flatMap((m) => (m.bluesky ? [m.bluesky] : [])))];
}
