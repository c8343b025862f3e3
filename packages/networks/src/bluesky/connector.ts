/**
 * The Bluesky connector: `@atproto/api` against one PDS (or the bsky.social entryway), with a
 * session kept between runs, posts made idempotent through record keys derived from the
 * delivery's idempotency key, and every failure mapped to the toolkit's error taxonomy. It is long
 * because sessions, record keys, threads, images and profiles share one agent and its state.
 */
import { AtpAgent, BlobRef, type AtpSessionData, type AtpSessionEvent } from '@atproto/api';
import { silentLogger, type Logger } from '@sunset/core';
import { blueskyFacets, graphemeCount, type Facet } from '@sunset/text';
import { InvalidPostError, NotFoundError, TransientError } from '../errors.ts';
import type {
  AccountInfo,
  AudienceSpec,
  AudienceSynced,
  BlueskyConnectorConfig,
  Connector,
  NetworkLimits,
  PostImage,
  PostPart,
  Profile,
  ProfileImage,
  ProfileUpdate,
  Published,
  PublishOptions,
  RemoteRef,
} from '../types.ts';
import { createGuardedClient } from '../http/guarded-client.ts';
import { atprotoApiVersion, shareLexicons } from '../patches/atproto-lexicons.ts';
import { cardKey, linkCards, type CardOutcome } from './card-cache.ts';
import { fitImage, ImageUnreadableError } from './images.ts';
import { fetchCardImage, fetchPageCard } from './link-card.ts';
import { isAuthFailure, isNotFound, mapBlueskyError } from './map-error.ts';
import { recordKeyFor } from './record-key.ts';

const network = 'bluesky';
const POST = 'app.bsky.feed.post';
const PROFILE = 'app.bsky.actor.profile';
const LIST = 'app.bsky.graph.list';
const LIST_ITEM = 'app.bsky.graph.listitem';
const STARTER_PACK = 'app.bsky.graph.starterpack';

/** Bluesky's own limits (the app's, and the lexicons' as the PDS enforces them). */
export const BLUESKY_LIMITS: NetworkLimits = {
  maxCharacters: 300,
  maxImages: 4,
  maxImageBytes: 2_000_000,
  maxAltCharacters: 2000,
};
const MAX_LANGS = 3;
const PROFILE_IMAGE_BYTES = 1_000_000;
const CARD_THUMB_BYTES = 1_000_000;
const MAX_DISPLAY_NAME = 64;
const MAX_DESCRIPTION = 256;
const DEFAULT_TIMEOUT_MS = 30_000;

interface StrongRef {
  uri: string;
  cid: string;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Reads a stored session back, or undefined when it is not one (then a new login is made). */
function parseSession(json: string): AtpSessionData | undefined {
  try {
    const value = JSON.parse(json) as Partial<AtpSessionData> | null;
    if (
      value &&
      typeof value.did === 'string' &&
      typeof value.handle === 'string' &&
      typeof value.accessJwt === 'string' &&
      typeof value.refreshJwt === 'string'
    ) {
      return { ...value, active: value.active ?? true } as AtpSessionData;
    }
  } catch {
    // Not JSON: treated like no session at all.
  }
  return undefined;
}

function parseAtUri(uri: string): { repo: string; collection: string; rkey: string } | undefined {
  const match = /^at:\/\/([^/]+)\/([^/]+)\/([^/?#]+)$/.exec(uri);
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { repo: match[1], collection: match[2], rkey: match[3] };
}

/** A blob reference in a record as the client returns it: a BlobRef, or its JSON forms. */
function blobOf(value: unknown): { cid: string; mimeType: string } | undefined {
  if (value instanceof BlobRef) return { cid: value.ref.toString(), mimeType: value.mimeType };
  if (typeof value !== 'object' || value === null) return undefined;
  const blob = value as { ref?: unknown; mimeType?: unknown; cid?: unknown };
  const mimeType = typeof blob.mimeType === 'string' ? blob.mimeType : 'application/octet-stream';
  const link = (blob.ref as { $link?: unknown } | undefined)?.$link;
  if (typeof link === 'string') return { cid: link, mimeType };
  if (blob.ref !== undefined && blob.ref !== null) return { cid: String(blob.ref), mimeType };
  if (typeof blob.cid === 'string') return { cid: blob.cid, mimeType };
  return undefined;
}

function strongRefOf(value: unknown): StrongRef | undefined {
  const ref = value as { uri?: unknown; cid?: unknown } | undefined;
  return typeof ref?.uri === 'string' && typeof ref.cid === 'string'
    ? { uri: ref.uri, cid: ref.cid }
    : undefined;
}

export function createBlueskyConnector(config: BlueskyConnectorConfig): Connector {
  const log: Logger = (config.logger ?? silentLogger()).child({ network });
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const store = config.sessionStore;
  const configuredHandle = config.handle.replace(/^@/, '').toLowerCase();
  const sessionKey = `bluesky:${configuredHandle}`;
  // Link cards read addresses from posts: only through the client that refuses internal ones.
  const contentClient = createGuardedClient({ allow: config.fetchAllow ?? [] });

  // Session writes are queued so that they land in order; close() waits for them.
  let persisting: Promise<void> = Promise.resolve();
  const persist = (what: string, write: () => Promise<void>) => {
    persisting = persisting.then(write).catch((err: unknown) => {
      log.warn({ reason: errorText(err) }, `could not ${what} the stored Bluesky session`);
    });
  };
  const onSessionEvent = (event: AtpSessionEvent, session: AtpSessionData | undefined) => {
    if (!store) return;
    if ((event === 'create' || event === 'update') && session) {
      persist('save', () => store.save(sessionKey, JSON.stringify(session)));
    } else if (event === 'expired') {
      persist('remove', () => store.remove(sessionKey));
    }
  };

  // Every request, the agent's own session refreshes included, gets the time limit.
  const timedFetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const signal = AbortSignal.any([request.signal, AbortSignal.timeout(timeoutMs)]);
    const { pathname } = new URL(request.url);
    const started = Date.now();
    try {
      const response = await fetch(request, { signal }).catch((err: unknown) => {
        // A kept-alive connection that the server closed as the request went out: no answer was
        // read, and a read is safe to send again, once, on a new connection.
        if (request.method !== 'GET' || !closedBeforeAnswer(err)) throw err;
        log.debug({ path: pathname }, 'connection closed before the answer: sending the read again');
        return fetch(request, { signal });
      });
      log.trace(
        {
          method: request.method,
          path: pathname,
          status: response.status,
          ms: Date.now() - started,
        },
        'request',
      );
      return response;
    } catch (err) {
      log.debug({ method: request.method, path: pathname, reason: errorText(err) }, 'request failed');
      throw err;
    }
  };

  const agent = new AtpAgent({ service: config.service, fetch: timedFetch, persistSession: onSessionEvent });
  if (!shareLexicons(agent)) warnLexiconsUnshared(log);

  let establishing: Promise<void> | undefined;

  /** Resumes the stored session if there is one; logs in only when there is none or it is dead. */
  const establish = async (): Promise<void> => {
    const stored = store ? await store.load(sessionKey) : undefined;
    const saved = stored === undefined ? undefined : parseSession(stored);
    if (saved) {
      try {
        await agent.resumeSession(saved);
        log.debug({ did: saved.did }, 'resumed the stored session');
        return;
      } catch (err) {
        const mismatch = err instanceof Error && /DID mismatch/.test(err.message);
        if (!isAuthFailure(err) && !mismatch) throw mapBlueskyError(err, 'resume the session');
        log.info('the stored session is no longer valid: logging in again');
      }
    }
    try {
      await agent.login({
        identifier: config.identifier.reveal(),
        password: config.appPassword.reveal(),
      });
    } catch (err) {
      throw mapBlueskyError(err, 'log in');
    }
    log.info({ did: agent.session?.did }, 'logged in with a new session');
  };

  const session = async (): Promise<AtpSessionData> => {
    if (!agent.session) {
      establishing ??= establish().finally(() => {
        establishing = undefined;
      });
      await establishing;
    }
    const current = agent.session;
    if (!current) throw new TransientError('no Bluesky session after logging in', { network });
    return current;
  };

  /** Runs one call, mapping whatever it throws. */
  const call = async <T>(action: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw mapBlueskyError(err, action);
    }
  };

  const postUrl = (handle: string, uri: string) =>
    `https://bsky.app/profile/${handle}/post/${parseAtUri(uri)?.rkey ?? ''}`;

  const publishedRef = (
    handle: string,
    self: StrongRef,
    root: StrongRef | undefined,
    alreadyExisted: boolean,
  ): Published => ({
    remoteId: self.uri,
    url: postUrl(handle, self.uri),
    bluesky: {
      uri: self.uri,
      cid: self.cid,
      root: root ? { uri: root.uri, cid: root.cid } : { uri: self.uri, cid: self.cid },
    },
    alreadyExisted,
  });

  /** The record under `rkey`, or undefined when there is none. */
  const getRecord = async (
    repo: string,
    collection: string,
    rkey: string,
    action: string,
    signal: AbortSignal | undefined,
  ): Promise<{ uri: string; cid: string; value: Record<string, unknown> } | undefined> => {
    try {
      const { data } = await agent.com.atproto.repo.getRecord({ repo, collection, rkey }, { signal });
      if (!data.cid)
        throw new TransientError(`Bluesky answered without a CID while trying to ${action}`, { network });
      return { uri: data.uri, cid: data.cid, value: data.value };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw mapBlueskyError(err, action);
    }
  };

  const findPost = async (
    s: AtpSessionData,
    rkey: string,
    signal: AbortSignal | undefined,
  ): Promise<Published | undefined> => {
    const found = await getRecord(s.did, POST, rkey, 'check whether the post exists', signal);
    if (!found) return undefined;
    const root = strongRefOf((found.value.reply as { root?: unknown } | undefined)?.root);
    return publishedRef(s.handle, found, root, true);
  };

  const resolvedHandles = new Map<string, string>();
  const resolveMention = async (handle: string, signal: AbortSignal | undefined) => {
    const known = resolvedHandles.get(handle);
    if (known) return known;
    try {
      const { data } = await agent.com.atproto.identity.resolveHandle({ handle }, { signal });
      resolvedHandles.set(handle, data.did);
      return data.did;
    } catch (err) {
      const mapped = mapBlueskyError(err, `resolve the handle @${handle}`);
      // Only "no such handle" drops the mention; a failure to ask is a failure of the post.
      if (mapped instanceof InvalidPostError || isNotFound(err)) {
        log.info({ handle }, 'mentioned handle does not resolve: left as plain text');
        return undefined;
      }
      throw mapped;
    }
  };

  const resolveFacets = async (text: string, signal: AbortSignal | undefined): Promise<Facet[]> => {
    const facets: Facet[] = [];
    for (const facet of blueskyFacets(text)) {
      const features: Facet['features'] = [];
      for (const feature of facet.features) {
        if (feature.$type !== 'app.bsky.richtext.facet#mention') {
          features.push(feature);
          continue;
        }
        // blueskyFacets leaves the handle in `did`: it is resolved here.
        const did = await resolveMention(feature.did, signal);
        if (did) features.push({ $type: feature.$type, did });
      }
      if (features.length > 0) facets.push({ index: facet.index, features });
    }
    return facets;
  };

  const replyRefs = async (replyTo: RemoteRef, signal: AbortSignal | undefined) => {
    if (replyTo.bluesky) {
      const { uri, cid, root } = replyTo.bluesky;
      return { root, parent: { uri, cid } };
    }
    // A reference without CIDs (e.g. typed in by a person): read the parent to learn them.
    const at = parseAtUri(replyTo.remoteId);
    if (!at) {
      throw new InvalidPostError(`cannot reply on Bluesky to ${replyTo.remoteId}: not an at:// post URI`, {
        network,
      });
    }
    const parent = await getRecord(at.repo, at.collection, at.rkey, 'read the post replied to', signal);
    if (!parent) {
      throw new NotFoundError(`the Bluesky post replied to does not exist: ${replyTo.remoteId}`, { network });
    }
    const root = strongRefOf((parent.value.reply as { root?: unknown } | undefined)?.root);
    return {
      root: root ?? { uri: parent.uri, cid: parent.cid },
      parent: { uri: parent.uri, cid: parent.cid },
    };
  };

  const upload = (data: Uint8Array, mediaType: string, signal: AbortSignal | undefined, what: string) =>
    call(`upload ${what}`, async () => {
      const { data: out } = await agent.com.atproto.repo.uploadBlob(data, { encoding: mediaType, signal });
      return out.blob;
    });

  /** Refuses, before any request, what Bluesky would refuse or what must not be posted. */
  const checkImages = (images: PostImage[]) => {
    const { maxImages, maxAltCharacters } = BLUESKY_LIMITS;
    if (images.length > maxImages) {
      throw new InvalidPostError(`Bluesky takes at most ${maxImages} images, not ${images.length}`, {
        network,
      });
    }
    images.forEach((image, i) => {
      if (!image.alt.trim()) {
        throw new InvalidPostError(`image ${i + 1} has no alternative text (required)`, { network });
      }
      if (graphemeCount(image.alt) > maxAltCharacters) {
        throw new InvalidPostError(`image ${i + 1}: alternative text over ${maxAltCharacters} characters`, {
          network,
        });
      }
    });
  };

  const imagesEmbed = async (images: PostImage[], signal: AbortSignal | undefined) => {
    const embedded = [];
    for (const [i, image] of images.entries()) {
      let fitted;
      try {
        fitted = await fitImage(image.data, image.mediaType, BLUESKY_LIMITS.maxImageBytes);
      } catch (err) {
        if (!(err instanceof ImageUnreadableError)) throw err;
        throw new InvalidPostError(`image ${i + 1}: ${err.message}`, { network, cause: err });
      }
      if (fitted.data !== image.data) {
        log.debug({ image: i + 1, from: image.data.byteLength, to: fitted.data.byteLength }, 'image shrunk');
      }
      const blob = await upload(fitted.data, fitted.mediaType, signal, `image ${i + 1}`);
      embedded.push({
        alt: image.alt,
        image: blob,
        ...(fitted.width && fitted.height
          ? { aspectRatio: { width: fitted.width, height: fitted.height } }
          : {}),
      });
    }
    return { $type: 'app.bsky.embed.images', images: embedded };
  };

  /** The page's card with its fitted thumbnail, as every connector of this process shares it. */
  const readCard = async (uri: string): Promise<CardOutcome> => {
    let card;
    try {
      card = await fetchPageCard(uri, { client: contentClient });
    } catch (error) {
      return { ok: false, error };
    }
    if (!card.imageUrl) return { ok: true, card };
    try {
      const image = await fetchCardImage(card.imageUrl, { client: contentClient });
      const thumb = await fitImage(image.data, image.mediaType, CARD_THUMB_BYTES, { alwaysJpeg: true });
      return { ok: true, card, thumb: { data: thumb.data, mediaType: thumb.mediaType } };
    } catch (thumbError) {
      return { ok: true, card, thumbError };
    }
  };

  /** The card for the post's first link, or undefined; never throws. */
  const linkCardEmbed = async (uri: string, signal: AbortSignal | undefined) => {
    let outcome: CardOutcome;
    try {
      outcome = await linkCards.get(cardKey(uri, config.fetchAllow), () => readCard(uri), signal);
    } catch (err) {
      outcome = { ok: false, error: err };
    }
    if (!outcome.ok) {
      log.warn({ url: uri, reason: errorText(outcome.error) }, 'no link card: the page could not be read');
      return undefined;
    }
    const { card, thumb, thumbError } = outcome;
    const external: Record<string, unknown> = {
      uri: card.uri,
      title: card.title,
      description: card.description,
    };
    if (card.imageUrl) {
      try {
        if (!thumb) throw thumbError;
        // The blob belongs to this account's repository: each uploads its own, with its own session.
        external.thumb = await upload(thumb.data, thumb.mediaType, signal, 'the link card image');
      } catch (err) {
        // A card without its picture is still a card: Bluesky's app shows those too.
        log.warn({ url: card.imageUrl, reason: errorText(err) }, 'link card without image');
      }
    }
    return { $type: 'app.bsky.embed.external', external };
  };

  const buildRecord = async (part: PostPart, options: PublishOptions): Promise<Record<string, unknown>> => {
    const { signal } = options;
    const facets = await resolveFacets(part.text, signal);
    const record: Record<string, unknown> = {
      $type: POST,
      text: part.text,
      createdAt: new Date().toISOString(),
    };
    if (facets.length > 0) record.facets = facets;
    if (part.language) record.langs = [part.language].slice(0, MAX_LANGS);
    if (options.replyTo) record.reply = await replyRefs(options.replyTo, signal);
    const images = part.images ?? [];
    if (images.length > 0) {
      record.embed = await imagesEmbed(images, signal);
    } else if (part.linkCard !== false && config.fetchLinkCard !== false) {
      const firstLink = facets
        .flatMap((facet) => facet.features)
        .find((feature) => feature.$type === 'app.bsky.richtext.facet#link');
      const embed = firstLink ? await linkCardEmbed(firstLink.uri, signal) : undefined;
      if (embed) record.embed = embed;
    }
    return record;
  };

  const publish = async (part: PostPart, options: PublishOptions): Promise<Published> => {
    const { signal } = options;
    checkImages(part.images ?? []);
    const rkey = recordKeyFor(options.idempotencyKey);
    const s = await session();
    const plog = log.child({ rkey });
    // Cheap, and what makes every retry safe: a post already made is returned, not made again.
    const existing = await findPost(s, rkey, signal);
    if (existing) {
      plog.info({ uri: existing.remoteId }, 'post already published');
      return existing;
    }
    const record = await buildRecord(part, options);
    const reply = record.reply as { root: StrongRef } | undefined;
    try {
      const { data } = await agent.com.atproto.repo.createRecord(
        { repo: s.did, collection: POST, rkey, record },
        { signal },
      );
      plog.info({ uri: data.uri }, 'post published');
      return publishedRef(s.handle, data, reply?.root, false);
    } catch (err) {
      const mapped = mapBlueskyError(err, 'create the post');
      if (!(mapped instanceof TransientError)) throw mapped;
      // No answer, or a 5xx: the post may have landed anyway (a lost reply), and a second
      // createRecord under a taken key answers a plain 500. The record key says which.
      plog.warn(
        { reason: mapped.message },
        'no clear answer to createRecord: checking whether the post landed',
      );
      let found: Published | undefined;
      try {
        found = await findPost(s, rkey, signal);
      } catch (checkErr) {
        plog.warn({ reason: errorText(checkErr) }, 'could not check: the post will be retried');
        throw mapped;
      }
      if (!found) throw mapped;
      plog.info({ uri: found.remoteId }, 'the post had landed despite the error');
      return found;
    }
  };

  const profileRecord = async (did: string, signal: AbortSignal | undefined) =>
    (await getRecord(did, PROFILE, 'self', 'read the profile', signal))?.value;

  const downloadImage = async (
    did: string,
    value: unknown,
    signal: AbortSignal | undefined,
  ): Promise<ProfileImage | undefined> => {
    const blob = blobOf(value);
    if (!blob) return undefined;
    const base = agent.pdsUrl ?? agent.serviceUrl;
    const url = new URL('/xrpc/com.atproto.sync.getBlob', base);
    url.searchParams.set('did', did);
    url.searchParams.set('cid', blob.cid);
    const { data, headers } = await call('download a profile image', () =>
      agent.com.atproto.sync.getBlob({ did, cid: blob.cid }, { signal }),
    );
    const served = headers['content-type']?.split(';')[0]?.trim();
    return {
      url: url.toString(),
      data,
      mediaType: blob.mimeType !== 'application/octet-stream' ? blob.mimeType : (served ?? blob.mimeType),
    };
  };

  const getProfile = async (options: { signal?: AbortSignal } = {}): Promise<Profile> => {
    const { did } = await session();
    const value = await profileRecord(did, options.signal);
    if (!value) return {};
    const profile: Profile = {};
    if (typeof value.displayName === 'string') profile.name = value.displayName;
    if (typeof value.description === 'string') profile.bio = value.description;
    const avatar = await downloadImage(did, value.avatar, options.signal);
    if (avatar) profile.avatar = avatar;
    const banner = await downloadImage(did, value.banner, options.signal);
    if (banner) profile.banner = banner;
    return profile;
  };

  const profileImage = async (
    image: { data: Uint8Array; mediaType: string },
    what: string,
    signal: AbortSignal | undefined,
  ) => {
    let fitted;
    try {
      fitted = await fitImage(image.data, image.mediaType, PROFILE_IMAGE_BYTES);
    } catch (err) {
      if (!(err instanceof ImageUnreadableError)) throw err;
      throw new InvalidPostError(`${what}: ${err.message}`, { network, cause: err });
    }
    return upload(fitted.data, fitted.mediaType, signal, `the ${what}`);
  };

  const updateProfile = async (
    update: ProfileUpdate,
    options: { signal?: AbortSignal } = {},
  ): Promise<Profile> => {
    const { signal } = options;
    if (update.name !== undefined && graphemeCount(update.name) > MAX_DISPLAY_NAME) {
      throw new InvalidPostError(`Bluesky display names have at most ${MAX_DISPLAY_NAME} characters`, {
        network,
      });
    }
    if (update.bio !== undefined && graphemeCount(update.bio) > MAX_DESCRIPTION) {
      throw new InvalidPostError(`Bluesky descriptions have at most ${MAX_DESCRIPTION} characters`, {
        network,
      });
    }
    // Bluesky profiles have no website, location or extra fields: those parts are left out.
    const ignored = (['url', 'location', 'fields'] as const).filter((key) => update[key] !== undefined);
    if (ignored.length > 0) log.info({ ignored }, 'Bluesky profiles have no such fields: ignored');

    const before = await getProfile(options);
    const avatar = update.avatar ? await profileImage(update.avatar, 'avatar', signal) : undefined;
    const banner = update.banner ? await profileImage(update.banner, 'banner', signal) : undefined;
    await call('update the profile', () =>
      agent.upsertProfile((existing) => {
        const next: Record<string, unknown> = { ...existing };
        const setText = (key: string, value: string | undefined) => {
          if (value === undefined) return;
          if (value === '') delete next[key];
          else next[key] = value;
        };
        setText('displayName', update.name);
        setText('description', update.bio);
        if (avatar) next.avatar = avatar;
        if (banner) next.banner = banner;
        return next;
      }),
    );
    log.info('profile updated');
    return before;
  };

  /** Writes `record` under `rkey` unless the record there already says the same; true when written. */
  const putIfChanged = async (
    s: AtpSessionData,
    collection: string,
    rkey: string,
    wanted: Record<string, unknown>,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<boolean> => {
    const existing = await getRecord(s.did, collection, rkey, `read the ${what}`, signal);
    const same = existing !== undefined && Object.entries(wanted).every(([k, v]) => existing.value[k] === v);
    if (same) return false;
    const record = {
      $type: collection,
      ...wanted,
      // Kept from the first version: the record says when it was made, not when it last changed.
      createdAt:
        typeof existing?.value['createdAt'] === 'string'
          ? existing.value['createdAt']
          : new Date().toISOString(),
    };
    await call(`write the ${what}`, () =>
      agent.com.atproto.repo.putRecord({ repo: s.did, collection, rkey, record }, { signal }),
    );
    return true;
  };

  /** Every list item of the account that belongs to `listUri`. */
  const listItemsOf = async (s: AtpSessionData, listUri: string, signal: AbortSignal | undefined) => {
    const items: { rkey: string; subject: string }[] = [];
    let cursor: string | undefined;
    do {
      const { data } = await call('read the list items', () =>
        agent.com.atproto.repo.listRecords(
          { repo: s.did, collection: LIST_ITEM, limit: 100, ...(cursor ? { cursor } : {}) },
          { signal },
        ),
      );
      for (const r of data.records) {
        const v = r.value as { list?: unknown; subject?: unknown };
        const rkey = parseAtUri(r.uri)?.rkey;
        if (v.list === listUri && typeof v.subject === 'string' && rkey)
          items.push({ rkey, subject: v.subject });
      }
      cursor = data.records.length === 100 ? data.cursor : undefined;
    } while (cursor);
    return items;
  };

  const syncAudience = async (
    spec: AudienceSpec,
    options: { signal?: AbortSignal } = {},
  ): Promise<AudienceSynced> => {
    const { signal } = options;
    const s = await session();
    const members: { handle: string; did: string }[] = [];
    const unresolved: string[] = [];
    for (const handle of spec.handles) {
      const did = await resolveMention(handle, signal);
      if (did) {
        if (!members.some((m) => m.did === did)) members.push({ handle, did });
      } else unresolved.push(handle);
    }
    const listUri = `at://${s.did}/${LIST}/${spec.keys.list}`;
    const listChanged = await putIfChanged(
      s,
      LIST,
      spec.keys.list,
      {
        purpose: 'app.bsky.graph.defs#curatelist',
        name: spec.name,
        description: spec.description,
      },
      'audience list',
      signal,
    );
    const items = await listItemsOf(s, listUri, signal);
    const wanted = new Set(members.map((m) => m.did));
    const kept = new Set<string>();
    const removed: string[] = [];
    for (const item of items) {
      // An account off the plan, or a second item for one already kept, goes.
      if (wanted.has(item.subject) && !kept.has(item.subject)) {
        kept.add(item.subject);
        continue;
      }
      await call('remove a list item', () =>
        agent.com.atproto.repo.deleteRecord(
          { repo: s.did, collection: LIST_ITEM, rkey: item.rkey },
          { signal },
        ),
      );
      if (!wanted.has(item.subject)) removed.push(item.subject);
    }
    const added: string[] = [];
    for (const m of members) {
      if (kept.has(m.did)) continue;
      const record = { $type: LIST_ITEM, subject: m.did, list: listUri, createdAt: new Date().toISOString() };
      await call(`add @${m.handle} to the list`, () =>
        agent.com.atproto.repo.putRecord(
          { repo: s.did, collection: LIST_ITEM, rkey: spec.itemKey(m.did), record },
          { signal },
        ),
      );
      added.push(m.did);
    }
    const starterPackChanged = await putIfChanged(
      s,
      STARTER_PACK,
      spec.keys.starterPack,
      { name: spec.name, description: spec.description, list: listUri },
      'starter pack',
      signal,
    );
    log.info(
      { added: added.length, removed: removed.length, unresolved: unresolved.length },
      'audience list and starter pack in step',
    );
    return {
      listUri,
      starterPackUri: `at://${s.did}/${STARTER_PACK}/${spec.keys.starterPack}`,
      url: `https://bsky.app/starter-pack/${s.handle}/${spec.keys.starterPack}`,
      members,
      added,
      removed,
      listChanged,
      starterPackChanged,
      unresolved,
    };
  };

  const verifyCredentials = async (options: { signal?: AbortSignal } = {}): Promise<AccountInfo> => {
    await session();
    const { data } = await call('check the session', () =>
      agent.com.atproto.server.getSession(undefined, { signal: options.signal }),
    );
    if (data.handle.toLowerCase() !== configuredHandle) {
      log.warn(
        { handle: data.handle, configured: configuredHandle },
        'the account has another handle than configured',
      );
    }
    const profile = await profileRecord(data.did, options.signal);
    const displayName = typeof profile?.displayName === 'string' ? profile.displayName : undefined;
    return {
      network,
      id: data.did,
      handle: `@${data.handle}`,
      url: `https://bsky.app/profile/${data.handle}`,
      ...(displayName ? { displayName } : {}),
    };
  };

  // The PDS hands the profile view to its AppView, which counts the follows across the network.
  const followers = async (options: { signal?: AbortSignal } = {}): Promise<number> => {
    const { did } = await session();
    const { data } = await call('read the follower count', () =>
      agent.app.bsky.actor.getProfile({ actor: did }, { signal: options.signal }),
    );
    return data.followersCount ?? 0;
  };

  return {
    network,
    verifyCredentials,
    followers,
    limits: async () => ({ ...BLUESKY_LIMITS }),
    publish,
    getProfile,
    updateProfile,
    syncAudience,
    async close() {
      await establishing?.catch(() => undefined);
      await persisting;
    },
  };
}

let lexiconsWarned = false;

/** Said once per process: the patch found the library's internals moved (patches/README.md). */
function warnLexiconsUnshared(log: Logger): void {
  if (lexiconsWarned) return;
  lexiconsWarned = true;
  log.warn(
    { library: `@atproto/api@${atprotoApiVersion()}` },
    'each Bluesky connector keeps its own copy of the lexicons: the shared-lexicons patch no longer fits the library',
  );
}

/** fetch's failure when the server closed the connection before answering (undici's socket error). */
function closedBeforeAnswer(err: unknown): boolean {
  return err instanceof TypeError && (err.cause as { code?: unknown } | undefined)?.code === 'UND_ERR_SOCKET';
}
