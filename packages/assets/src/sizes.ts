import type { Network } from '@sunset/core';

export type ProfileImageSlot = 'banner' | 'avatar';

export interface ProfileImageSize {
  width: number;
  height: number;
  /** Largest file the network takes for this slot, in bytes (exactly this many is accepted). */
  maxBytes: number;
}

/**
 * Pixel size and byte limit of each profile image. X documents 1500 × 500 banners (5 MB) and
 * 400 × 400 avatars (2 MB). Bluesky takes profile images up to 1,000,000 bytes (its lexicon's
 * maxSize) and shows banners 3:1. Mastodon's defaults are a 1500 × 500 header and a 400 × 400
 * avatar; its API spec gives no byte figure, so 2,000,000 (a stock server's limit) is the cap.
 */
export const PROFILE_IMAGE_SIZES: Readonly<
  Record<Network, Readonly<Record<ProfileImageSlot, Readonly<ProfileImageSize>>>>
> = Object.freeze({
  x: Object.freeze({
    banner: Object.freeze({ width: 1500, height: 500, maxBytes: 5_000_000 }),
    avatar: Object.freeze({ width: 400, height: 400, maxBytes: 2_000_000 }),
  }),
  bluesky: Object.freeze({
    banner: Object.freeze({ width: 3000, height: 1000, maxBytes: 1_000_000 }),
    avatar: Object.freeze({ width: 1000, height: 1000, maxBytes: 1_000_000 }),
  }),
  mastodon: Object.freeze({
    banner: Object.freeze({ width: 1500, height: 500, maxBytes: 2_000_000 }),
    avatar: Object.freeze({ width: 400, height: 400, maxBytes: 2_000_000 }),
  }),
});

export const PROFILE_IMAGE_SLOTS: readonly ProfileImageSlot[] = ['banner', 'avatar'];
