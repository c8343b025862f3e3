/**
 * The JSON columns the store types, checked when a row is read: a reader then narrows on a
 * delivery's kind instead of casting, and a payload the store did not write this way is named
 * at once instead of failing somewhere in a job.
 */
import { StoreError } from './errors.ts';
import type {
  AudiencePayload,
  DeliveryKind,
  PolicyPayload,
  ProfilePayload,
  StoredImageSpec,
  StoredProfile,
} from './types.ts';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const optional = (v: unknown, type: 'string' | 'object') => v === undefined || typeof v === type;
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

function isImageSpec(v: unknown): v is StoredImageSpec {
  if (!isObject(v)) return false;
  if (v['kind'] === 'keep') return true;
  if (v['kind'] === 'file') return typeof v['sha256'] === 'string' && typeof v['mediaType'] === 'string';
  return v['kind'] === 'generate' && typeof v['generator'] === 'string';
}

function isProfilePayload(v: unknown): v is ProfilePayload {
  if (!isObject(v) || !isObject(v['profile'])) return false;
  const p = v['profile'];
  return (
    isImageSpec(p['banner']) &&
    isImageSpec(p['avatar']) &&
    ['name', 'bio', 'url', 'location'].every((k) => optional(p[k], 'string')) &&
    (p['fields'] === undefined || Array.isArray(p['fields']))
  );
}

function isPolicyPayload(v: unknown): v is PolicyPayload {
  return isObject(v) && typeof v['mode'] === 'string' && isStrings(v['checklist']);
}

function isAudiencePayload(v: unknown): v is AudiencePayload {
  return (
    isObject(v) &&
    isObject(v['keys']) &&
    typeof v['keys']['list'] === 'string' &&
    typeof v['keys']['starterPack'] === 'string' &&
    typeof v['name'] === 'string' &&
    typeof v['description'] === 'string' &&
    isStrings(v['handles'])
  );
}

const PAYLOAD_CHECKS: Record<Exclude<DeliveryKind, 'post'>, (v: unknown) => boolean> = {
  profile: isProfilePayload,
  policy: isPolicyPayload,
  audience: isAudiencePayload,
};

/**
 * A delivery's payload as read from its row, checked against its kind: a profile's and a policy's
 * must be as apply writes them; a post's (its content is in its parts) is kept as it was given.
 */
export function payloadOf(deliveryId: string, kind: DeliveryKind, payload: unknown): unknown {
  if (kind === 'post') return payload;
  if (PAYLOAD_CHECKS[kind](payload)) return payload;
  throw new StoreError(
    `delivery ${deliveryId}: its ${kind} payload is not as the store writes it`,
    undefined,
    'store.payload',
  );
}

function isStoredProfile(v: unknown): v is StoredProfile {
  return (
    isObject(v) &&
    ['name', 'bio', 'url', 'location'].every((k) => optional(v[k], 'string')) &&
    ['avatar', 'banner'].every((k) => optional(v[k], 'object')) &&
    (v['fields'] === undefined || Array.isArray(v['fields']))
  );
}

/** A snapshot's profile as read from its row, checked: every field of the connector's is optional. */
export function storedProfileOf(snapshotId: number, profile: unknown): StoredProfile {
  if (isStoredProfile(profile)) return profile;
  throw new StoreError(
    `profile snapshot ${snapshotId}: its profile is not as the store writes it`,
    undefined,
    'store.payload',
  );
}
