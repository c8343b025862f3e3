/**
 * The X connector: `twitter-api-v2` with OAuth 1.0a user context, every request (v2, v1.1,
 * media) sent to one configurable https base so that tests reach the sandbox, a deadline on each
 * request, and errors mapped to the shared taxonomy in one place (map-error.ts).
 *
 * Reconciliation contract (X has no idempotency key):
 * - The caller records "attempting" (with the time) before `publish`.
 * - `publish` throws `UnknownOutcomeError` when the tweet request may have reached X but no
 *   answer came back (reset, time-out, broken answer). The caller must not retry blindly: it
 *   calls `findRecent(text, { since: attemptTime - a minute, sinceId })`. Found → the post exists, record
 *   it (`alreadyExisted: true`); not found → publishing again is safe.
 * - `DuplicateError` means X already holds this exact text from this account: a previous attempt
 *   landed (or an older post has the same text). The caller reconciles with `findRecent` in the
 *   same way; it never rewrites the text to get past the check.
 * - `findRecent` reads the account's timeline, which lower access levels do not allow: then it
 *   throws `ForbiddenError` and the outcome must be checked by a person.
 */
import { silentLogger } from '@sunset/core';
import type { SendTweetV2Params, TweetV2, UserV1 } from 'twitter-api-v2';
import { AuthError, InvalidPostError, TransientError } from '../errors.ts';
import type {
  AccountInfo,
  Connector,
  FindRecentOptions,
  NetworkLimits,
  PostImage,
  PostPart,
  Profile,
  ProfileImage,
  ProfileUpdate,
  Published,
  PublishOptions,
  RemoteRef,
  XConnectorConfig,
} from '../types.ts';
import { createGuardedClient, FetchRefusedError } from '../http/guarded-client.ts';
import { createXClient } from './client.ts';
import { mapXError } from './map-error.ts';
import { matchesSentText } from './match-text.ts';

const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
const MAX_PROFILE_IMAGE_BYTES = 10 * 1024 * 1024;
/** The most posts a search after an unknown outcome reads: X bills each post returned. */
const TIMELINE_MAX_POSTS = 300;
/** X's smallest page; pages double from it, so a post found near the top costs a few reads. */
const TIMELINE_FIRST_PAGE = 5;

export const X_LIMITS: NetworkLimits = Object.freeze({
  maxCharacters: 280,
  charactersReservedPerUrl: 23,
  maxImages: 4,
  maxImageBytes: 5 * 1024 * 1024,
  maxAltCharacters: 1000,
});

interface Me {
  id: string;
  username: string;
  name: string;
}

/** X accepts start_time with whole seconds only ("YYYY-MM-DDTHH:mm:ssZ"). */
function xTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

function sameHandle(a: string, b: string): boolean {
  return a.replace(/^@/, '').toLowerCase() === b.replace(/^@/, '').toLowerCase();
}

function checkImages(images: readonly PostImage[]): void {
  if (images.length > X_LIMITS.maxImages) {
    throw new InvalidPostError(
      `X takes at most ${X_LIMITS.maxImages} images per post, not ${images.length}`,
      {
        network: 'x',
      },
    );
  }
  images.forEach((image, i) => {
    const which = `image ${i + 1}`;
    const fail = (why: string) => {
      throw new InvalidPostError(`${which}: ${why}`, { network: 'x' });
    };
    if (image.alt.trim() === '') fail('no alternative text (every image must describe itself)');
    if ([...image.alt].length > X_LIMITS.maxAltCharacters) {
      fail(`alternative text over ${X_LIMITS.maxAltCharacters} characters`);
    }
    if (!IMAGE_TYPES.has(image.mediaType)) fail(`type ${image.mediaType} is not one X takes for images`);
    if (image.data.length > X_LIMITS.maxImageBytes) fail(`over ${X_LIMITS.maxImageBytes} bytes`);
  });
}

function expandEntities(text: string, urls: readonly { url?: string; expanded_url?: string }[] = []): string {
  let out = text;
  for (const u of urls) if (u.url && u.expanded_url) out = out.split(u.url).join(u.expanded_url);
  return out;
}

export function createXConnector(config: XConnectorConfig): Connector {
  const logger = (config.logger ?? silentLogger()).child({ subsystem: 'x-connector', network: 'x' });
  // Secrets are revealed here only, into the client, which keeps them for signing.
  const x = createXClient({
    tokens: {
      appKey: config.appKey.reveal(),
      appSecret: config.appSecret.reveal(),
      accessToken: config.accessToken.reveal(),
      accessSecret: config.accessSecret.reveal(),
    },
    ...(config.apiBase === undefined ? {} : { apiBase: config.apiBase }),
    ...(config.ca === undefined ? {} : { ca: config.ca }),
    ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
    logger,
  });
  const { timeoutMs } = x;
  const contentClient = createGuardedClient({
    allow: config.fetchAllow ?? [],
    ...(config.ca === undefined ? {} : { ca: config.ca }),
  });
  const v1 = x.client.v1;
  const v2 = x.client.v2;

  async function call<T>(
    action: string,
    creates: boolean,
    signal: AbortSignal | undefined,
    run: () => Promise<T>,
  ): Promise<T> {
    const started = performance.now();
    try {
      if (signal?.aborted) throw new TransientError(`Cancelled before ${action}`, { network: 'x' });
      const result = await x.withSignal(signal, run);
      logger.debug({ action, ms: Math.round(performance.now() - started) }, 'x call done');
      return result;
    } catch (err) {
      const mapped = mapXError(err, { action, creates });
      const kind = (mapped as { kind?: unknown }).kind;
      logger.warn(
        {
          action,
          ms: Math.round(performance.now() - started),
          kind,
          status: (mapped as { status?: unknown }).status,
        },
        'x call failed',
      );
      throw mapped;
    }
  }

  let me: Promise<Me> | undefined;
  function currentUser(signal: AbortSignal | undefined, fresh = false): Promise<Me> {
    if (!me || fresh) {
      const pending = call('reading the account', false, signal, () => v2.me()).then(({ data }) => {
        if (!sameHandle(data.username, config.account)) {
          throw new AuthError(
            `The X credentials belong to @${data.username}, not to @${config.account.replace(/^@/, '')}`,
            { network: 'x' },
          );
        }
        return { id: data.id, username: data.username, name: data.name };
      });
      // A failure is not cached: the next call asks again.
      pending.catch(() => {
        if (me === pending) me = undefined;
      });
      me = pending;
    }
    return me;
  }

  function postUrl(username: string, id: string): string {
    return `https://x.com/${username}/status/${id}`;
  }

  /** Profile images live on X's image host, at addresses X's answer names: fetched through the guarded client. */
  async function download(url: string, signal: AbortSignal | undefined): Promise<ProfileImage> {
    const failed = (why: string, cause: unknown) =>
      new TransientError(`Could not download the X profile image ${url}: ${why}`, { network: 'x', cause });
    let response;
    try {
      response = await contentClient.get(url, {
        timeoutMs,
        maxBytes: MAX_PROFILE_IMAGE_BYTES,
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (err instanceof FetchRefusedError) {
        // No retry reaches it: the operator allows it (SUNSET_FETCH_ALLOW), or X changes it.
        throw new InvalidPostError(`X profile image not downloaded: ${err.message}`, {
          network: 'x',
          cause: err,
        });
      }
      throw failed(err instanceof Error ? err.message : String(err), err);
    }
    if (response.status !== 200) throw failed(`HTTP ${response.status}`, undefined);
    const mediaType = (response.headers.get('content-type') ?? 'application/octet-stream')
      .split(';')[0]
      ?.trim();
    return { url, data: response.body, ...(mediaType ? { mediaType } : {}) };
  }

  function profileFrom(user: UserV1): { profile: Profile; avatarUrl?: string; bannerUrl?: string } {
    const profile: Profile = {
      name: user.name,
      bio: expandEntities(user.description ?? '', user.entities?.description?.urls),
      location: user.location ?? '',
    };
    const url = user.entities?.url?.urls?.[0]?.expanded_url ?? user.url ?? undefined;
    if (url) profile.url = url;
    // "_normal" is the 48 px rendition; without the suffix X serves the image as uploaded.
    const avatarUrl = user.profile_image_url_https?.replace(/_normal(\.\w+)$/, '$1');
    return {
      profile,
      ...(avatarUrl ? { avatarUrl } : {}),
      ...(user.profile_banner_url ? { bannerUrl: user.profile_banner_url } : {}),
    };
  }

  async function getProfile(signal: AbortSignal | undefined): Promise<Profile> {
    const user = await call('reading the profile', false, signal, () =>
      v1.verifyCredentials({ include_entities: true, skip_status: true }),
    );
    const { profile, avatarUrl, bannerUrl } = profileFrom(user);
    const [avatar, banner] = await Promise.all([
      avatarUrl ? download(avatarUrl, signal) : undefined,
      bannerUrl ? download(bannerUrl, signal) : undefined,
    ]);
    if (avatar) profile.avatar = avatar;
    if (banner) profile.banner = banner;
    return profile;
  }

  /**
   * The account's posts from the newest back (only those after `since` and `sinceId`), page by
   * page, until one matches `text`: small pages first, since X bills every post returned.
   */
  async function searchTimeline(
    userId: string,
    text: string,
    options: FindRecentOptions,
  ): Promise<{ found?: TweetV2; scanned: number }> {
    const { since, sinceId, signal, onRead } = options;
    let size = TIMELINE_FIRST_PAGE;
    let token: string | undefined;
    let scanned = 0;
    for (;;) {
      // A page of its own each time: the library's fetchNext keeps the first page's size.
      const page = await call('reading recent posts', false, signal, () =>
        v2.userTimeline(userId, {
          max_results: size,
          'tweet.fields': ['created_at', 'entities'],
          ...(since ? { start_time: xTime(since) } : {}),
          ...(sinceId ? { since_id: sinceId } : {}),
          ...(token ? { pagination_token: token } : {}),
        }),
      );
      const tweets = page.tweets;
      scanned += tweets.length;
      if (tweets.length > 0) onRead?.({ kind: 'read_post', count: tweets.length });
      const found = tweets.find((t) => matchesSentText(text, t.text, t.entities?.urls));
      token = page.meta.next_token;
      if (found) return { found, scanned };
      if (!token || scanned >= TIMELINE_MAX_POSTS) return { scanned };
      size = Math.max(TIMELINE_FIRST_PAGE, Math.min(100, size * 2, TIMELINE_MAX_POSTS - scanned));
    }
  }

  const connector: Connector = {
    network: 'x',

    async verifyCredentials(options = {}): Promise<AccountInfo> {
      const user = await currentUser(options.signal, true);
      return {
        network: 'x',
        id: user.id,
        handle: `@${user.username}`,
        url: `https://x.com/${user.username}`,
        displayName: user.name,
      };
    },

    limits(): Promise<NetworkLimits> {
      return Promise.resolve(X_LIMITS);
    },

    async followers(options = {}): Promise<number> {
      const { data } = await call('reading the follower count', false, options.signal, () =>
        v2.me({ 'user.fields': ['public_metrics'] }),
      );
      options.onRead?.({ kind: 'read_user', count: 1 });
      if (!sameHandle(data.username, config.account)) {
        throw new AuthError(
          `The X credentials belong to @${data.username}, not to @${config.account.replace(/^@/, '')}`,
          { network: 'x' },
        );
      }
      const count = data.public_metrics?.followers_count;
      if (typeof count !== 'number') {
        throw new TransientError('X answered the account without its follower count', { network: 'x' });
      }
      return count;
    },

    async publish(part: PostPart, options: PublishOptions): Promise<Published> {
      const images = part.images ?? [];
      checkImages(images);
      const { signal } = options;
      const mediaIds: string[] = [];
      for (const [i, image] of images.entries()) {
        // Uploads create nothing visible: a lost answer only leaves an orphan that X expires.
        const id = await call(`uploading image ${i + 1}`, false, signal, () =>
          v2.uploadMedia(Buffer.from(image.data), {
            media_type: image.mediaType as 'image/png',
            media_category: image.mediaType === 'image/gif' ? 'tweet_gif' : 'tweet_image',
          }),
        );
        await call(`setting the alternative text of image ${i + 1}`, false, signal, () =>
          v2.createMediaMetadata(id, { alt_text: { text: image.alt } }),
        );
        mediaIds.push(id);
      }
      // `language` and `linkCard` have no X counterpart: X detects the language and builds link
      // cards itself.
      const payload: SendTweetV2Params = { text: part.text };
      if (options.replyTo) payload.reply = { in_reply_to_tweet_id: options.replyTo.remoteId };
      if (mediaIds.length > 0) payload.media = { media_ids: mediaIds as [string] };
      const result = await call('publishing a post', true, signal, () => v2.tweet(payload));
      const id = result.data.id;
      const username = (await me?.catch(() => undefined))?.username ?? config.account.replace(/^@/, '');
      logger.info(
        {
          tweetId: id,
          idempotencyKey: options.idempotencyKey,
          images: mediaIds.length,
          reply: !!options.replyTo,
        },
        'x post published',
      );
      return { remoteId: id, url: postUrl(username, id), alreadyExisted: false };
    },

    async findRecent(text: string, options: FindRecentOptions = {}): Promise<RemoteRef | undefined> {
      const readsUser = me === undefined;
      const user = await currentUser(options.signal);
      if (readsUser) options.onRead?.({ kind: 'read_user', count: 1 });
      const { found, scanned } = await searchTimeline(user.id, text, options);
      logger.debug({ scanned, found: found?.id, sinceId: options.sinceId }, 'x recent posts searched');
      return found ? { remoteId: found.id, url: postUrl(user.username, found.id) } : undefined;
    },

    getProfile(options = {}): Promise<Profile> {
      return getProfile(options.signal);
    },

    async updateProfile(update: ProfileUpdate, options = {}): Promise<Profile> {
      const { signal } = options;
      const before = await getProfile(signal);
      const fields: { name?: string; description?: string; url?: string; location?: string } = {};
      if (update.name !== undefined) fields.name = update.name;
      if (update.bio !== undefined) fields.description = update.bio;
      // An empty string clears the field on X.
      if (update.url !== undefined) fields.url = update.url;
      if (update.location !== undefined) fields.location = update.location;
      if (Object.keys(fields).length > 0) {
        await call('updating the profile', false, signal, () =>
          v1.updateAccountProfile({ ...fields, skip_status: true }),
        );
      }
      if (update.avatar) {
        const data = Buffer.from(update.avatar.data);
        await call('updating the profile image', false, signal, () => v1.updateAccountProfileImage(data));
      }
      if (update.banner) {
        const data = Buffer.from(update.banner.data);
        await call('updating the profile banner', false, signal, () => v1.updateAccountProfileBanner(data));
      }
      logger.info(
        { fields: Object.keys(fields), avatar: !!update.avatar, banner: !!update.banner },
        'x profile updated',
      );
      return before;
    },

    // Nothing of its own to release: its connections are the process's (client.ts, sharedAgent).
    close(): Promise<void> {
      return Promise.resolve();
    },
  };
  return connector;
}
