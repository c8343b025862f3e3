/**
 * The dormant profile: at its time, the network's current profile is kept as a snapshot (images
 * as blobs, byte for byte), then the plan's profile is applied. `restoreProfile` puts the last
 * snapshot back. A network that refuses its profile API (X on lower access tiers) turns the step
 * into needs-attention with a checklist and the image files a person uploads by hand.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NETWORK_LABELS, SunsetError, type Logger, type Network } from '@sunset/core';
import {
  AuthError,
  ForbiddenError,
  type Connector,
  type Profile,
  type ProfileImage,
  type ProfileUpdate,
} from '@sunset/networks';
import type {
  Delivery,
  ProfilePayload,
  ProfileSnapshot,
  Repositories,
  Store,
  StoredImage,
  StoredImageSpec as ImageSpec,
  StoredProfile,
} from '@sunset/store';
import type { OrgSettings } from '../outbox/org-settings.ts';
import {
  finishWithAudit,
  type ImageSlot,
  type JobInfo,
  type ProcessContext,
  type ProcessResult,
} from './job.ts';

export class ProfileError extends SunsetError {
  constructor(message: string) {
    super('engine.profile', message);
  }
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

async function storeImage(
  tx: Repositories,
  image: ProfileImage | undefined,
): Promise<StoredImage | undefined> {
  if (!image) return undefined;
  const out: StoredImage = {};
  if (image.url !== undefined) out.url = image.url;
  if (image.data) {
    const hash = sha256(image.data);
    const mediaType = image.mediaType ?? 'application/octet-stream';
    await tx.blobs.put({ sha256: hash, mediaType, data: image.data });
    out.sha256 = hash;
    out.mediaType = mediaType;
  }
  return out;
}

/** Keeps the profile as the network has it now, with its audit entry, in one transaction. */
async function takeSnapshot(
  store: Store,
  delivery: Delivery,
  profile: Profile,
  job: JobInfo,
): Promise<ProfileSnapshot> {
  return store.transaction(async (tx) => {
    const stored: StoredProfile = {
      ...(profile.name !== undefined ? { name: profile.name } : {}),
      ...(profile.bio !== undefined ? { bio: profile.bio } : {}),
      ...(profile.url !== undefined ? { url: profile.url } : {}),
      ...(profile.location !== undefined ? { location: profile.location } : {}),
      ...(profile.fields ? { fields: profile.fields } : {}),
    };
    const avatar = await storeImage(tx, profile.avatar);
    const banner = await storeImage(tx, profile.banner);
    if (avatar) stored.avatar = avatar;
    if (banner) stored.banner = banner;
    const snapshot = await tx.profiles.saveSnapshot({
      organisationId: delivery.organisationId,
      network: delivery.network,
      deliveryId: delivery.id,
      profile: stored,
    });
    await tx.audit.append({
      organisationId: delivery.organisationId,
      actor: 'system',
      action: 'profile.snapshot',
      network: delivery.network,
      deliveryId: delivery.id,
      jobId: job.id,
      outcome: 'ok',
      after: stored,
      details: { snapshotId: snapshot.id },
    });
    return snapshot;
  });
}

/** "Bluesky @tours.fr · Mastodon @ville@social.tours.fr": where the audience finds the organisation now. */
export function whereToFindOf(settings: OrgSettings): string {
  const n = settings.document.networks;
  const parts: string[] = [];
  if (n.bluesky) parts.push(`Bluesky @${n.bluesky.handle.replace(/^@/, '')}`);
  if (n.mastodon) parts.push(`Mastodon ${n.mastodon.account}`);
  return parts.join(' · ');
}

async function resolveImage(
  ctx: ProcessContext,
  settings: OrgSettings,
  network: Network,
  slot: ImageSlot,
  spec: ImageSpec,
  current: ProfileImage | undefined,
): Promise<{ data: Uint8Array; mediaType: string } | undefined> {
  if (spec.kind === 'keep') return undefined;
  if (spec.kind === 'file') {
    const blob = await ctx.store.blobs.get(spec.sha256);
    if (!blob)
      throw new ProfileError(`the ${slot} image ${spec.sha256.slice(0, 12)}… is missing from the store`);
    return { data: blob.data, mediaType: blob.mediaType };
  }
  if (!ctx.renderImage) {
    throw new ProfileError(
      `the ${slot} is to be generated (${spec.generator}) but this worker has no image renderer`,
    );
  }
  const where = whereToFindOf(settings);
  return ctx.renderImage({
    network,
    slot,
    spec: {
      generator: spec.generator,
      ...(spec.caption !== undefined ? { caption: spec.caption } : {}),
      ...(spec.colour !== undefined ? { colour: spec.colour } : {}),
    },
    organisationName: settings.organisationName,
    ...(where ? { whereToFind: where } : {}),
    ...(current?.data
      ? { current: { data: current.data, mediaType: current.mediaType ?? 'image/png' } }
      : {}),
  });
}

const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

/** Writes the images a person must upload by hand, and says what to paste where. */
function manualChecklist(
  ctx: ProcessContext,
  delivery: Delivery,
  update: ProfileUpdate,
  reason: string,
): string[] {
  const label = NETWORK_LABELS[delivery.network];
  const dir = path.resolve(ctx.dataDir, 'manual', delivery.organisationId);
  const steps = [
    `${label} refused the profile change (${reason}): make it by hand in the ${label} settings.`,
  ];
  if (update.name !== undefined) steps.push(`Name: ${update.name}`);
  if (update.bio !== undefined) steps.push(`Bio: ${update.bio}`);
  if (update.url !== undefined) steps.push(`Website: ${update.url}`);
  if (update.location !== undefined) steps.push(`Location: ${update.location}`);
  for (const f of update.fields ?? []) steps.push(`Profile field "${f.name}": ${f.value}`);
  for (const slot of ['banner', 'avatar'] as const) {
    const image = update[slot];
    if (!image) continue;
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${delivery.network}-${slot}.${EXTENSIONS[image.mediaType] ?? 'bin'}`);
    writeFileSync(file, image.data);
    steps.push(`Upload the ${slot === 'banner' ? 'banner (header)' : 'profile picture'}: ${file}`);
  }
  steps.push('Keep a copy of the current profile (texts and images) first, so it can be put back later.');
  return steps;
}

function isRefusal(err: unknown): err is ForbiddenError | AuthError {
  return err instanceof ForbiddenError || err instanceof AuthError;
}

export async function applyDormantProfile(
  ctx: ProcessContext,
  delivery: Delivery,
  settings: OrgSettings,
  connector: Connector,
  job: JobInfo,
  log: Logger,
): Promise<ProcessResult> {
  const { store } = ctx;
  if (delivery.kind !== 'profile') throw new ProfileError(`delivery ${delivery.id} is not a profile step`);
  const spec = delivery.payload.profile;
  const update: ProfileUpdate = {
    ...(spec.name !== undefined ? { name: spec.name } : {}),
    ...(spec.bio !== undefined ? { bio: spec.bio } : {}),
    ...(spec.url !== undefined ? { url: spec.url } : {}),
    ...(spec.location !== undefined ? { location: spec.location } : {}),
    ...(spec.fields ? { fields: spec.fields } : {}),
  };

  // A retry must not snapshot the profile it has itself changed: the first snapshot stands.
  let snapshot = await store.profiles.snapshotOfDelivery(delivery.id);
  let current: Profile | undefined;
  if (!snapshot) {
    try {
      current = await connector.getProfile();
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const images = await resolveImages(ctx, settings, delivery.network, spec, undefined);
      return needsAttention(ctx, delivery, { ...update, ...images }, job, err.remoteMessage ?? err.message);
    }
    snapshot = await takeSnapshot(store, delivery, current, job);
    log.info({ snapshotId: snapshot.id }, 'profile snapshot taken');
  }
  const currentAvatar = current?.avatar ?? (await imageOfSnapshot(store, snapshot, 'avatar'));
  Object.assign(update, await resolveImages(ctx, settings, delivery.network, spec, currentAvatar));

  let before: Profile;
  ctx.gate?.(delivery.network);
  try {
    before = await connector.updateProfile(update);
  } catch (err) {
    if (!isRefusal(err)) throw err;
    return needsAttention(ctx, delivery, update, job, err.remoteMessage ?? err.message);
  }
  log.info({ fields: Object.keys(update) }, 'dormant profile applied');
  const done = await finishWithAudit(store, delivery, 'published', job, {
    extra: {
      snapshotId: snapshot.id,
      applied: describeUpdate(update),
      before: { name: before.name, bio: before.bio, url: before.url, location: before.location },
    },
  });
  return { status: 'published', delivery: done };
}

async function resolveImages(
  ctx: ProcessContext,
  settings: OrgSettings,
  network: Network,
  spec: ProfilePayload['profile'],
  currentAvatar: ProfileImage | undefined,
): Promise<Pick<ProfileUpdate, 'banner' | 'avatar'>> {
  const banner = await resolveImage(ctx, settings, network, 'banner', spec.banner, undefined);
  const avatar = await resolveImage(ctx, settings, network, 'avatar', spec.avatar, currentAvatar);
  return { ...(banner ? { banner } : {}), ...(avatar ? { avatar } : {}) };
}

async function needsAttention(
  ctx: ProcessContext,
  delivery: Delivery,
  update: ProfileUpdate,
  job: JobInfo,
  reason: string,
): Promise<ProcessResult> {
  const checklist = manualChecklist(ctx, delivery, update, reason);
  return {
    status: 'needs-attention',
    delivery: await finishWithAudit(ctx.store, delivery, 'needs-attention', job, {
      reason: `the profile API was refused: ${reason}`,
      checklist,
    }),
  };
}

/** What was changed, for the audit log: texts as they are, images by size and type. */
function describeUpdate(update: ProfileUpdate): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(update)) {
    if (value && typeof value === 'object' && 'data' in value) {
      const image = value as { data: Uint8Array; mediaType: string };
      out[key] = { mediaType: image.mediaType, bytes: image.data.byteLength };
    } else {
      out[key] = value;
    }
  }
  return out;
}

async function imageOfSnapshot(
  store: Store,
  snapshot: ProfileSnapshot,
  slot: ImageSlot,
): Promise<ProfileImage | undefined> {
  const stored = snapshot.profile[slot];
  if (!stored?.sha256) return undefined;
  const blob = await store.blobs.get(stored.sha256);
  return blob ? { data: blob.data, mediaType: blob.mediaType } : undefined;
}

/** The text fields the dormant-profile step that took this snapshot set. */
async function textsSetBy(
  store: Store,
  snapshot: ProfileSnapshot,
): Promise<('name' | 'bio' | 'url' | 'location')[]> {
  if (!snapshot.deliveryId) return [];
  const delivery = await store.deliveries.get(snapshot.deliveryId);
  const spec = delivery?.kind === 'profile' ? delivery.payload.profile : undefined;
  if (!spec) return [];
  return (['name', 'bio', 'url', 'location'] as const).filter((f) => spec[f] !== undefined);
}

export interface RestoreResult {
  network: Network;
  snapshotId: number;
  takenAt: Date;
  restored: string[];
  /** What could not be put back through the API (e.g. a banner that was empty before). */
  notes: string[];
}

/** Puts the last snapshot of an organisation's profile back on one network, with its audit entry. */
export async function restoreProfile(options: {
  store: Store;
  connector: Connector;
  organisationId: string;
  actor: string;
}): Promise<RestoreResult> {
  const { store, connector, organisationId, actor } = options;
  const network = connector.network;
  const snapshot = await store.profiles.latestSnapshot(organisationId, network);
  if (!snapshot) {
    throw new ProfileError(
      `there is no profile snapshot of ${organisationId} on ${NETWORK_LABELS[network]}: the dormant profile was never applied there`,
    );
  }
  const stored = snapshot.profile;
  const update: ProfileUpdate = {
    ...(stored.name !== undefined ? { name: stored.name } : {}),
    ...(stored.bio !== undefined ? { bio: stored.bio } : {}),
    ...(stored.url !== undefined ? { url: stored.url } : {}),
    ...(stored.location !== undefined ? { location: stored.location } : {}),
    ...(stored.fields ? { fields: stored.fields } : {}),
  };
  // A text the profile did not have before (no website, no Bluesky display name or bio) is
  // absent from the snapshot; if the dormant profile set it, it is cleared, not left in place.
  for (const field of await textsSetBy(store, snapshot)) {
    if (update[field] === undefined) update[field] = '';
  }
  const notes: string[] = [];
  for (const slot of ['avatar', 'banner'] as const) {
    const image = await imageOfSnapshot(store, snapshot, slot);
    if (image?.data) update[slot] = { data: image.data, mediaType: image.mediaType ?? 'image/png' };
    else
      notes.push(
        `the ${slot} was empty before the dormant profile: remove the current one by hand if needed`,
      );
  }
  let before: Profile;
  try {
    before = await connector.updateProfile(update);
  } catch (err) {
    await store.audit.append({
      organisationId,
      actor,
      action: 'profile.restore',
      network,
      outcome: 'error',
      error: err instanceof Error ? err.message : String(err),
      details: { snapshotId: snapshot.id },
    });
    throw err;
  }
  await store.audit.append({
    organisationId,
    actor,
    action: 'profile.restored',
    network,
    outcome: 'ok',
    before: { name: before.name, bio: before.bio, url: before.url, location: before.location },
    after: describeUpdate(update),
    details: { snapshotId: snapshot.id, takenAt: snapshot.takenAt.toISOString(), notes },
  });
  return {
    network,
    snapshotId: snapshot.id,
    takenAt: snapshot.takenAt,
    restored: Object.keys(update),
    notes,
  };
}
