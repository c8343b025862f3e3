/**
 * Compiles a validated plan into the ordered list of actions the engine schedules: each post on
 * each network (one action per thread part), the dormant profile per network, and the X policy
 * switch at the sunset. Ids are stable (same plan, same ids) and each action carries a hash of
 * its own content only, so editing one post changes only that post's hashes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InputError, NETWORKS, canonicalJson, resolveInside, type Network } from '@sunset/core';
import { measure, splitThread, type LengthReport } from '@sunset/text';
import { audienceBlueskyHandles, audienceKeys, type AudienceKeys } from './audience.ts';
import { expand, placeholderValues } from './placeholders.ts';
import type { AvatarDocument, BannerDocument, PlanDocument } from './schema.ts';
import { formatLocal } from './time.ts';
import { instantOf, textLimitsOf, type Plan } from './validate.ts';

export type XAfter = PlanDocument['sunset']['x_after'];

export interface CompiledImage {
  /** Absolute path of the file. */
  file: string;
  /** The path as written in the plan. */
  source: string;
  alt: string;
  bytes: number;
  mediaType: string;
  sha256: string;
}

export type CompiledImageSpec =
  | { kind: 'keep' }
  | { kind: 'file'; file: string; source: string; sha256: string; mediaType: string }
  | { kind: 'generate'; generator: 'flat-ecg' | 'flat-ecg-avatar'; caption?: string; colour?: string };

interface ActionBase {
  /** Stable within the organisation; safe as a queue job id (no ":"). */
  id: string;
  network: Network;
  at: Date;
  /** The same instant in the plan's time zone, for people. */
  atLocal: string;
  /** sha256 of the action's content (not its time), hex. */
  contentHash: string;
}

export interface PostAction extends ActionBase {
  kind: 'post';
  postId: string;
  /** 1-based part number; threads have parts > 1, each a reply to the one before. */
  part: number;
  parts: number;
  /** Id of the action this part replies to (the previous part), if any. */
  replyTo?: string;
  text: string;
  length: LengthReport;
  images: CompiledImage[];
  language: string;
}

export interface ProfileAction extends ActionBase {
  kind: 'profile';
  profile: {
    name?: string;
    bio?: string;
    url?: string;
    location?: string;
    banner: CompiledImageSpec;
    avatar: CompiledImageSpec;
    fields?: { name: string; value: string }[];
  };
}

export interface PolicyAction extends ActionBase {
  kind: 'policy';
  network: 'x';
  mode: XAfter;
  /** Steps to do by hand (X has no API to deactivate an account or pin a post). */
  checklist: string[];
}

/**
 * The Bluesky list and starter pack of the audience, made or brought in step. Its id carries a
 * hash of its content: a changed audience is a new step, run again even after the last one ran.
 */
export interface AudienceAction extends ActionBase {
  kind: 'audience';
  network: 'bluesky';
  audience: {
    /** Record keys of the list and of the starter pack (derived from the organisation id). */
    keys: AudienceKeys;
    name: string;
    description: string;
    /** The handles the list holds, without "@", the plan's own first. */
    handles: string[];
  };
}

export type Action = PostAction | ProfileAction | PolicyAction | AudienceAction;

export interface CompiledPlan {
  organisationId: string;
  organisationName: string;
  timezone: string;
  locale: string;
  sunset: Date;
  xAfter: XAfter;
  /** sha256 of the plan's YAML. */
  planHash: string;
  actions: Action[];
}

const KIND_ORDER: Record<Action['kind'], number> = { audience: 0, post: 1, profile: 2, policy: 3 };
const MEDIA_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
};

function hash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/**
 * The hash of a post part's content: the same text as hash() gives of
 * `{ kind: 'post', network, part, parts, text, language, images: [{ sha256, alt, mediaType }] }`,
 * written with its keys already in canonical (sorted) order, without sorting them per part.
 */
function postContentHash(
  network: Network,
  part: number,
  parts: number,
  text: string,
  language: string,
  images: readonly Pick<CompiledImage, 'alt' | 'mediaType' | 'sha256'>[],
): string {
  const content = {
    images: images.map((im) => ({ alt: im.alt, mediaType: im.mediaType, sha256: im.sha256 })),
    kind: 'post',
    language,
    network,
    part,
    parts,
    text,
  };
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
}

/** Re-exported for callers that already import it from here. */
export { canonicalJson };

export function compile(plan: Plan): CompiledPlan {
  const doc = plan.document;
  const zone = doc.organisation.timezone;
  const sunset = plan.sunset;
  const values = placeholderValues(doc, sunset);
  const limits = textLimitsOf(doc);
  const fileCache = new Map<string, { bytes: number; sha256: string }>();
  const readImage = (source: string) => {
    // Validation refused escapes; resolving again reads the very file it checked, inside the folder.
    const found = resolveInside(plan.baseDir, source);
    if (found.kind !== 'inside')
      throw new InputError(
        found.kind === 'outside'
          ? `${source} is outside the plan's folder: name a file inside it, relative to the plan`
          : `image file not found: ${source}, relative to the plan's folder`,
      );
    const file = found.file;
    let info = fileCache.get(file);
    if (!info) {
      const buf = readFileSync(file);
      info = { bytes: buf.length, sha256: createHash('sha256').update(buf).digest('hex') };
      fileCache.set(file, info);
    }
    return {
      file,
      source,
      ...info,
      mediaType: MEDIA_TYPES[path.extname(source).toLowerCase()] ?? 'application/octet-stream',
    };
  };
  // Posts go out on several networks at one instant: each instant is formatted once.
  const localTimes = new Map<number, string>();
  const localOf = (at: Date) => {
    let local = localTimes.get(at.getTime());
    if (local === undefined) {
      local = formatLocal(at, zone);
      localTimes.set(at.getTime(), local);
    }
    return local;
  };
  const base = (network: Network, at: Date) => ({ network, at, atLocal: localOf(at) });
  const actions: Action[] = [];

  for (const post of doc.posts ?? []) {
    const at = instantOf(doc, post.at, sunset);
    const images: CompiledImage[] = (post.images ?? []).map((img) => ({
      ...readImage(img.file),
      alt: img.alt,
    }));
    const language = post.language ?? doc.organisation.locale;
    for (const network of post.on) {
      const text = expand(post.variants?.[network] ?? post.text, values);
      // A text that fits is its own thread of one (splitThread returns it unchanged): measured
      // once, and split only when it does not fit.
      const whole = measure(text, network, limits);
      const parts = whole.fits ? [text] : splitThread(text, network, { limits });
      parts.forEach((partText, i) => {
        const part = i + 1;
        actions.push({
          kind: 'post',
          id: `post.${post.id}.${network}.${part}`,
          ...base(network, at),
          contentHash: postContentHash(
            network,
            part,
            parts.length,
            partText,
            language,
            part === 1 ? images : [],
          ),
          postId: post.id,
          part,
          parts: parts.length,
          ...(part > 1 ? { replyTo: `post.${post.id}.${network}.${part - 1}` } : {}),
          text: partText,
          length: whole.fits ? whole : measure(partText, network, limits),
          images: part === 1 ? images : [],
          language,
        });
      });
    }
  }

  const dp = doc.dormant_profile;
  if (dp) {
    const at = instantOf(doc, dp.at, sunset);
    for (const network of NETWORKS) {
      const spec = dp[network];
      if (!spec) continue;
      const imageSpec = (v: BannerDocument | AvatarDocument | undefined): CompiledImageSpec => {
        if (v === undefined || v === 'keep') return { kind: 'keep' };
        if (typeof v === 'string') {
          const img = readImage(v);
          return { kind: 'file', file: img.file, source: v, sha256: img.sha256, mediaType: img.mediaType };
        }
        return {
          kind: 'generate',
          generator: v.generate,
          ...('caption' in v && v.caption !== undefined ? { caption: expand(v.caption, values) } : {}),
          ...(v.colour !== undefined ? { colour: v.colour.toLowerCase() } : {}),
        };
      };
      const profile: ProfileAction['profile'] = {
        ...(spec.name !== undefined ? { name: expand(spec.name, values) } : {}),
        ...(spec.bio !== undefined ? { bio: expand(spec.bio, values) } : {}),
        ...(spec.url !== undefined ? { url: spec.url } : {}),
        ...(spec.location !== undefined ? { location: spec.location } : {}),
        banner: imageSpec(spec.banner),
        avatar: imageSpec(spec.avatar),
        ...(spec.fields
          ? { fields: spec.fields.map((f) => ({ name: f.name, value: expand(f.value, values) })) }
          : {}),
      };
      const content = {
        kind: 'profile',
        network,
        profile: {
          ...profile,
          banner: stripPaths(profile.banner),
          avatar: stripPaths(profile.avatar),
        },
      };
      actions.push({
        kind: 'profile',
        id: `profile.${network}`,
        ...base(network, at),
        contentHash: hash(content),
        profile,
      });
    }
  }

  if (doc.networks.x) {
    const mode = doc.sunset.x_after;
    const checklist = checklistFor(mode, doc);
    actions.push({
      kind: 'policy',
      id: 'policy.x',
      ...base('x', sunset),
      network: 'x',
      contentHash: hash({ kind: 'policy', network: 'x', mode, checklist }),
      mode,
      checklist,
    });
  }

  const pack = doc.audience?.starter_pack;
  if (pack && doc.networks.bluesky) {
    // By default an hour before anything else the plan does: the farewells can link the pack.
    const earliest = Math.min(sunset.getTime(), ...actions.map((a) => a.at.getTime()));
    const at = doc.audience?.at ? instantOf(doc, doc.audience.at, sunset) : new Date(earliest - 3600_000);
    const audience: AudienceAction['audience'] = {
      keys: audienceKeys(doc.organisation.id),
      name: pack.name,
      description: pack.description ?? '',
      handles: audienceBlueskyHandles(doc),
    };
    const contentHash = hash({ kind: 'audience', network: 'bluesky', audience });
    actions.push({
      kind: 'audience',
      id: `audience.bluesky.${contentHash.slice(0, 12)}`,
      ...base('bluesky', at),
      network: 'bluesky',
      contentHash,
      audience,
    });
  }

  const postIndex = new Map((doc.posts ?? []).map((p, i) => [p.id, i]));
  actions.sort(
    (a, b) =>
      a.at.getTime() - b.at.getTime() ||
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
      postOrder(a, b, postIndex) ||
      NETWORKS.indexOf(a.network) - NETWORKS.indexOf(b.network) ||
      (a.kind === 'post' && b.kind === 'post' ? a.part - b.part : 0),
  );

  return {
    organisationId: doc.organisation.id,
    organisationName: doc.organisation.name,
    timezone: zone,
    locale: doc.organisation.locale,
    sunset,
    xAfter: doc.sunset.x_after,
    planHash: plan.sourceHash,
    actions,
  };
}

/** Posts due at the same instant keep the order they have in the plan. */
function postOrder(a: Action, b: Action, index: ReadonlyMap<string, number>): number {
  if (a.kind !== 'post' || b.kind !== 'post' || a.postId === b.postId) return 0;
  return (index.get(a.postId) ?? 0) - (index.get(b.postId) ?? 0);
}

/** The content hash covers what a file holds, not where it lies on this machine. */
function stripPaths(spec: CompiledImageSpec): unknown {
  return spec.kind === 'file' ? { kind: 'file', sha256: spec.sha256, mediaType: spec.mediaType } : spec;
}

function checklistFor(mode: XAfter, doc: PlanDocument): string[] {
  const account = `@${doc.networks.x?.account.replace(/^@/, '')}`;
  const common = [
    `Download the archive of ${account} (Settings › Your account › Download an archive of your data) and file it with the public archives.`,
  ];
  switch (mode) {
    case 'crisis-only':
      return [
        ...common,
        `Pin the farewell post on ${account} by hand: X has no API to pin a post.`,
        'Keep the X credentials valid: crisis posts still go to X.',
      ];
    case 'frozen':
      return [
        ...common,
        `Pin the farewell post on ${account} by hand: X has no API to pin a post.`,
        'Revoke the X app tokens that are no longer needed.',
      ];
    case 'leave':
      return [
        ...common,
        `Deactivate ${account} by hand (Settings › Your account › Deactivate your account): X has no API for it. ` +
          'After 30 days the name is released and anyone may take it.',
        'Revoke the X app tokens.',
      ];
  }
}
