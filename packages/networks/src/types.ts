/**
 * The one interface every network connector implements. The worker talks to networks only
 * through it; each network's folder (x/, bluesky/, mastodon/) holds its implementation, its
 * sandbox server and its tests.
 */
import type { Logger, Network, Secret } from '@sunset/core';

/** An image to attach: the bytes, their type and the required alternative text. */
export interface PostImage {
  data: Uint8Array;
  /** image/png, image/jpeg, image/gif or image/webp. */
  mediaType: string;
  alt: string;
}

/** One post (one part of a thread): text already within the network's limit. */
export interface PostPart {
  text: string;
  images?: PostImage[];
  /** BCP 47 tag, e.g. "fr-FR"; each connector maps it to what its network takes. */
  language?: string;
  /** Bluesky: build a link card for the first link when there are no images (default true). */
  linkCard?: boolean;
}

/**
 * What identifies a published post well enough to reply to it. `remoteId` is the network's id
 * (X tweet id, Mastodon status id, Bluesky at:// URI); Bluesky replies also need the CIDs and
 * the thread's root, kept in `bluesky`.
 */
export interface RemoteRef {
  remoteId: string;
  url: string;
  bluesky?: { uri: string; cid: string; root: { uri: string; cid: string } };
}

export interface PublishOptions {
  /**
   * Stable for one part of one delivery, across retries and restarts ([A-Za-z0-9._-], ≤ 64):
   * Mastodon sends it as Idempotency-Key; Bluesky derives the record key from it; X has none.
   */
  idempotencyKey: string;
  /** The post this one answers (the previous part of a thread, or a crisis original). */
  replyTo?: RemoteRef;
  signal?: AbortSignal;
}

export interface Published extends RemoteRef {
  /** True when the post had already landed (found on retry) and was not created again. */
  alreadyExisted: boolean;
}

export interface AccountInfo {
  network: Network;
  id: string;
  /** @handle (X, Bluesky) or @name@server (Mastodon). */
  handle: string;
  url: string;
  displayName?: string;
}

/** An image of a profile: the URL the network shows it at and, once downloaded, its bytes. */
export interface ProfileImage {
  url?: string;
  data?: Uint8Array;
  mediaType?: string;
}

export interface Profile {
  name?: string;
  bio?: string;
  url?: string;
  location?: string;
  avatar?: ProfileImage;
  banner?: ProfileImage;
  /** Mastodon profile metadata, up to 4. */
  fields?: { name: string; value: string }[];
}

/** What to change; a field left out stays as it is. Images must carry bytes. */
export interface ProfileUpdate {
  name?: string;
  bio?: string;
  url?: string;
  location?: string;
  avatar?: { data: Uint8Array; mediaType: string };
  banner?: { data: Uint8Array; mediaType: string };
  fields?: { name: string; value: string }[];
}

/** The Bluesky list and starter pack of an organisation's audience, as the plan wants them. */
export interface AudienceSpec {
  keys: { list: string; starterPack: string };
  /** The pack's name, and its list's. */
  name: string;
  description: string;
  /** Handles without "@": the accounts the list holds. */
  handles: string[];
  /** The record key of the list item that puts `did` on the list. */
  itemKey(did: string): string;
}

/** What a sync did; members and changes are read back from the PDS. */
export interface AudienceSynced {
  listUri: string;
  starterPackUri: string;
  /** The pack's bsky.app link. */
  url: string;
  members: { handle: string; did: string }[];
  /** DIDs put on the list, and taken off it, by this sync. */
  added: string[];
  removed: string[];
  listChanged: boolean;
  starterPackChanged: boolean;
  /** Handles that resolve to no account: left off the list. */
  unresolved: string[];
}

export interface NetworkLimits {
  /** In the network's own unit (X weighted characters, Bluesky graphemes, Mastodon characters). */
  maxCharacters: number;
  /** What each link counts for (X and Mastodon), if links count at a fixed length. */
  charactersReservedPerUrl?: number;
  maxImages: number;
  maxImageBytes: number;
  maxAltCharacters: number;
}

/** A priced read the network made (X bills each post and user returned). */
export interface NetworkRead {
  kind: 'read_post' | 'read_user';
  count: number;
}

export interface FindRecentOptions {
  /** Posts older than this are not looked at. */
  since?: Date;
  /** The account's newest post known to be older than the one looked for: only newer ones are read. */
  sinceId?: string;
  signal?: AbortSignal;
  /** Told of every read as it is made, so that its cost is counted even when the search fails later. */
  onRead?: (read: NetworkRead) => void;
}

export interface Connector {
  readonly network: Network;
  verifyCredentials(options?: { signal?: AbortSignal }): Promise<AccountInfo>;
  /** Limits as the server announces them where it does (Mastodon), else the network's own; cached. */
  limits(options?: { signal?: AbortSignal }): Promise<NetworkLimits>;
  publish(part: PostPart, options: PublishOptions): Promise<Published>;
  /**
   * After an unknown outcome on a network without idempotency keys (X): the post with this
   * exact text among the account's recent posts, if the access level allows reading them.
   */
  findRecent?(text: string, options?: FindRecentOptions): Promise<RemoteRef | undefined>;
  /**
   * How many accounts follow this one, as the network counts them. X bills the read of the
   * account (`onRead`, told once X has answered).
   */
  followers(options?: { signal?: AbortSignal; onRead?: (read: NetworkRead) => void }): Promise<number>;
  /** The current profile, images downloaded so it can be restored byte for byte. */
  getProfile(options?: { signal?: AbortSignal }): Promise<Profile>;
  /** Applies `update` and returns the profile as it was just before. */
  updateProfile(update: ProfileUpdate, options?: { signal?: AbortSignal }): Promise<Profile>;
  /** Bluesky: makes the audience's list and starter pack, or brings them in step; idempotent. */
  syncAudience?(spec: AudienceSpec, options?: { signal?: AbortSignal }): Promise<AudienceSynced>;
  close(): Promise<void>;
}

/** Settings common to every connector. */
export interface ConnectorCommon {
  logger?: Logger;
  /** Per-request time limit in ms (default 30 000). */
  timeoutMs?: number;
  /**
   * Internal destinations that fetches of addresses from content (link cards, profile images)
   * may reach although internal: "host:port" or CIDR entries (SUNSET_FETCH_ALLOW); none by default.
   */
  fetchAllow?: readonly string[];
}

export interface XConnectorConfig extends ConnectorCommon {
  network: 'x';
  account: string;
  appKey: Secret;
  appSecret: Secret;
  accessToken: Secret;
  accessSecret: Secret;
  /** API base, e.g. "https://api.x.com" (default) or a sandbox's https URL. */
  apiBase?: string;
  /** Extra CA certificates (PEM) to trust: the sandbox's self-signed certificate. */
  ca?: string;
}

export interface BlueskyConnectorConfig extends ConnectorCommon {
  network: 'bluesky';
  handle: string;
  /** The PDS, e.g. "https://bsky.social". */
  service: string;
  identifier: Secret;
  appPassword: Secret;
  /** Where the session is kept between runs (login is limited to 30 per 5 minutes). */
  sessionStore?: SessionStore;
  /** Whether a post's first link gets a card read from the page (default true; SUNSET_LINK_CARDS). */
  fetchLinkCard?: boolean;
}

export interface MastodonConnectorConfig extends ConnectorCommon {
  network: 'mastodon';
  instance: string;
  account: string;
  accessToken: Secret;
}

export type ConnectorConfig = XConnectorConfig | BlueskyConnectorConfig | MastodonConnectorConfig;

/** Keeps a Bluesky session (JSON) between runs; the store in packages/store implements it. */
export interface SessionStore {
  load(key: string): Promise<string | undefined>;
  save(key: string, value: string): Promise<void>;
  remove(key: string): Promise<void>;
}
