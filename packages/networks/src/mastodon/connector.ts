/**
 * The Mastodon connector: posts, threads, images with alt text and profiles through `masto` 8,
 * with every failure mapped to the toolkit's error taxonomy (map-error.ts). It is long because
 * posts, threads, media and profiles each have their own retry and replay rules, kept together.
 *
 * Idempotency: each post part is sent with `Idempotency-Key: <options.idempotencyKey>`. masto 8
 * takes per-call request options as the method's second argument, `{ requestInit: { headers } }`,
 * merges those headers over its defaults and then sets Authorization
 * (dist/adapters/config/http-config.js), so the key reaches the server unchanged; the tests read
 * it back from the sandbox. Mastodon keeps a key for one hour per account and answers a repeat
 * with the status it already created, so a post whose reply was lost is retried once at once with
 * the same key, and later retries by the worker are safe within that hour.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger, untilAborted } from '@sunset/core';
import type { mastodon } from 'masto';
import { InvalidPostError, isNetworkError, TransientError } from '../errors.ts';
import {
  createGuardedClient,
  FetchFailedError,
  FetchRefusedError,
  type GuardedResponse,
} from '../http/guarded-client.ts';
import type {
  AccountInfo,
  Connector,
  MastodonConnectorConfig,
  NetworkLimits,
  PostImage,
  PostPart,
  Profile,
  ProfileImage,
  ProfileUpdate,
  Published,
  PublishOptions,
} from '../types.ts';
import { createMastodonClient } from './client.ts';
import { htmlToText, normalizeNewlines } from './html-text.ts';
import { errorFromStatus, isOutcomeUnknown, toNetworkError } from './map-error.ts';

export interface MastodonConnectorOptions {
  /** Longest wait for the server to finish processing one uploaded image (default 60 s). */
  mediaTimeoutMs?: number;
  /** First pause between checks of a processing image (default 250 ms, doubling up to 2 s). */
  mediaPollMs?: number;
  /** Largest avatar or header download accepted by getProfile (default 16 MiB). */
  maxDownloadBytes?: number;
}

/**
 * What a server that does not announce its limits (no /api/v2/instance, before Mastodon 4.0) is
 * taken to allow: Mastodon's own defaults, with a conservative image size.
 */
export const DEFAULT_MASTODON_NETWORK_LIMITS: NetworkLimits = Object.freeze({
  maxCharacters: 500,
  charactersReservedPerUrl: 23,
  maxImages: 4,
  maxImageBytes: 8 * 1024 * 1024,
  maxAltCharacters: 1500,
});

const DEFAULT_TIMEOUT_MS = 30_000;
/** Between a post that got no answer and its one retry with the same Idempotency-Key. */
const RETRY_PAUSE_MS = 5;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9._-]{1,64}$/;
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
const network = 'mastodon' as const;

type Meta = { requestInit: { headers?: Record<string, string>; signal?: AbortSignal } };

/** Tags seen and what they became: a deployment posts in a handful of languages. */
const languageOfTag = new Map<string, string | undefined>();

/** Mastodon takes an ISO 639 code ("fr"), not a BCP 47 tag ("fr-FR"). */
export function mastodonLanguage(tag: string | undefined): string | undefined {
  if (!tag) return undefined;
  if (languageOfTag.has(tag)) return languageOfTag.get(tag);
  const language = isoLanguage(tag);
  if (languageOfTag.size < 1_000) languageOfTag.set(tag, language);
  return language;
}

function isoLanguage(tag: string): string | undefined {
  let language: string | undefined;
  try {
    // Intl canonicalizes too: "iw" becomes "he", "fra" becomes "fr".
    language = new Intl.Locale(tag.replaceAll('_', '-')).language;
  } catch {
    language = tag.split(/[-_]/)[0];
  }
  language = language?.toLowerCase();
  // Mastodon knows ISO 639-1 codes and a few ISO 639-3 ones, and ignores any other.
  return language && /^[a-z]{2,3}$/.test(language) && language !== 'und' ? language : undefined;
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

function extensionOf(mediaType: string): string {
  return mediaType === 'image/jpeg' ? 'jpg' : (mediaType.split('/')[1] ?? 'bin');
}

/** Mastodon's placeholder when an account has no avatar or header: nothing to restore. */
function isPlaceholder(url: string): boolean {
  try {
    return new URL(url).pathname.endsWith('/missing.png');
  } catch {
    return true;
  }
}

export function createMastodonConnector(
  config: MastodonConnectorConfig,
  options: MastodonConnectorOptions = {},
): Connector {
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const mediaTimeoutMs = options.mediaTimeoutMs ?? 60_000;
  const mediaPollMs = options.mediaPollMs ?? 250;
  const maxDownloadBytes = options.maxDownloadBytes ?? 16 * 1024 * 1024;
  const log = (config.logger ?? silentLogger()).child({
    subsystem: 'mastodon-connector',
    network,
    account: config.account,
  });
  const instanceUrl = new URL(config.instance);
  const contentClient = createGuardedClient({ allow: config.fetchAllow ?? [] });
  const { rest: client } = createMastodonClient({
    url: instanceUrl.origin,
    accessToken: config.accessToken.reveal(),
    // Every request, polls included, gets this limit (masto adds AbortSignal.timeout to each).
    timeout: timeoutMs,
    // masto logs to the console; our own logger says what matters.
    log: 'error',
  });

  let instance: Promise<mastodon.v2.Instance | undefined> | undefined;
  let limitsCache: NetworkLimits | undefined;
  let closed = false;

  const meta = (signal?: AbortSignal, headers?: Record<string, string>): Meta => ({
    requestInit: { ...(headers ? { headers } : {}), ...(signal ? { signal } : {}) },
  });

  function ensureOpen(): void {
    if (closed) throw new Error('The Mastodon connector is closed');
  }

  /** Runs one call; a caller's abort is rethrown as is, anything else is mapped. */
  async function call<T>(action: string, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    ensureOpen();
    signal?.throwIfAborted();
    try {
      return await run();
    } catch (err) {
      signal?.throwIfAborted();
      const mapped = toNetworkError(err, action);
      log.debug({ action, error: mapped.message }, 'Mastodon call failed');
      throw mapped;
    }
  }

  /**
   * The server's instance description, fetched once and shared; undefined when it has none
   * (before Mastodon 4.0). The shared request is bounded by the time limit alone, so that one
   * caller's abort does not fail the others; each caller stops waiting on its own signal.
   */
  async function fetchInstance(signal?: AbortSignal): Promise<mastodon.v2.Instance | undefined> {
    if (!instance) {
      const pending = call('read the instance limits', undefined, () =>
        client.v2.instance.fetch(undefined, meta()),
      ).catch((err: unknown) => {
        if ((err as { kind?: string }).kind === 'not-found') return undefined;
        throw err;
      });
      // A failure is not kept: the next call asks again.
      pending.catch(() => {
        if (instance === pending) instance = undefined;
      });
      instance = pending;
    }
    return untilAborted(instance, signal);
  }

  async function limits(signal?: AbortSignal): Promise<NetworkLimits> {
    if (limitsCache) return limitsCache;
    const info = await fetchInstance(signal);
    const configuration = info?.configuration;
    // Read loosely: older servers leave parts out, and masto's types lack description_limit.
    const statuses = configuration?.statuses as
      Partial<mastodon.v2.InstanceStatusesConfiguration> | undefined;
    const media = configuration?.mediaAttachments as
      | (Partial<mastodon.v2.InstanceMediaAttachmentsConfiguration> & { descriptionLimit?: number })
      | undefined;
    const d = DEFAULT_MASTODON_NETWORK_LIMITS;
    limitsCache = {
      maxCharacters: statuses?.maxCharacters ?? d.maxCharacters,
      charactersReservedPerUrl: statuses?.charactersReservedPerUrl ?? d.charactersReservedPerUrl ?? 23,
      maxImages: statuses?.maxMediaAttachments ?? d.maxImages,
      maxImageBytes: media?.imageSizeLimit ?? d.maxImageBytes,
      maxAltCharacters: media?.descriptionLimit ?? d.maxAltCharacters,
    };
    log.debug({ limits: limitsCache }, 'Mastodon instance limits');
    return limitsCache;
  }

  function checkImages(images: readonly PostImage[], known: NetworkLimits): void {
    const refuse = (message: string) => new InvalidPostError(message, { network });
    if (images.length > known.maxImages) {
      throw refuse(`Mastodon takes at most ${known.maxImages} images per post (${images.length} given)`);
    }
    images.forEach((image, i) => {
      const which = `image ${i + 1}`;
      if (image.alt.trim() === '') throw refuse(`${which} has no alternative text: every image needs one`);
      if (codePoints(image.alt) > known.maxAltCharacters) {
        throw refuse(`${which}: alternative text over ${known.maxAltCharacters} characters`);
      }
      if (!IMAGE_TYPES.has(image.mediaType))
        throw refuse(`${which}: ${image.mediaType} is not an image type Mastodon takes`);
      if (image.data.byteLength > known.maxImageBytes) {
        throw refuse(`${which}: ${image.data.byteLength} bytes, over the server's ${known.maxImageBytes}`);
      }
    });
  }

  /**
   * Uploads one image and waits until the server has processed it. masto 8 can poll by itself
   * (it sleeps 1 s before each GET /api/v1/media/:id, up to `mediaTimeout`), but it does not pass
   * our AbortSignal to those polls; so it is told `skipPolling` and we poll here: sooner at first,
   * bounded by `mediaTimeoutMs`, stopped by the caller's signal.
   */
  async function uploadImage(image: PostImage, index: number, signal?: AbortSignal): Promise<string> {
    const action = `upload image ${index + 1}`;
    const file = new File(
      [new Uint8Array(image.data)],
      `image-${index + 1}.${extensionOf(image.mediaType)}`,
      {
        type: image.mediaType,
      },
    );
    // masto sends `skipPolling` along as a form field (skip_polling); Mastodon ignores it.
    let attachment = await call(action, signal, () =>
      client.v2.media.create({ file, description: image.alt, skipPolling: true }, meta(signal)),
    );
    const deadline = Date.now() + mediaTimeoutMs;
    let pause = mediaPollMs;
    while (!attachment.url) {
      if (Date.now() + pause > deadline) {
        throw new TransientError(
          `Mastodon was still processing image ${index + 1} after ${mediaTimeoutMs} ms`,
          {
            network,
          },
        );
      }
      await sleep(pause, undefined, signal ? { signal } : {});
      pause = Math.min(pause * 2, 2000);
      const id = attachment.id;
      // 206 Partial Content while processing: masto reads it as a success with `url: null`.
      attachment = await call(`check image ${index + 1}`, signal, () =>
        client.v1.media.$select(id).fetch(undefined, meta(signal)),
      );
    }
    return attachment.id;
  }

  async function createStatus(
    params: mastodon.rest.v1.CreateStatusParams,
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<{ status: mastodon.v1.Status; sentAt: number; retried: boolean }> {
    ensureOpen();
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      const sentAt = Date.now();
      try {
        const status = await client.v1.statuses.create(params, meta(signal, { 'Idempotency-Key': key }));
        return { status, sentAt, retried: attempt > 1 };
      } catch (err) {
        signal?.throwIfAborted();
        if (attempt === 1 && isOutcomeUnknown(err)) {
          // The post may have landed: the same key makes the server answer with it, not a twin.
          log.warn(
            { idempotencyKey: key },
            'No answer to a Mastodon post; retrying once with the same Idempotency-Key',
          );
          // A pause, so that a status the first attempt made is older than the retry by a
          // millisecond at least (see alreadyExisted in publish).
          await sleep(RETRY_PAUSE_MS, undefined, signal ? { signal } : {}).catch(() =>
            signal?.throwIfAborted(),
          );
          continue;
        }
        const mapped = toNetworkError(err, 'publish the post');
        log.debug({ idempotencyKey: key, error: mapped.message, attempt }, 'Mastodon post failed');
        throw mapped;
      }
    }
  }

  async function download(
    url: string,
    what: string,
    signal?: AbortSignal,
  ): Promise<ProfileImage | undefined> {
    if (isPlaceholder(url)) return undefined;
    const action = `download the ${what}`;
    ensureOpen();
    // Without the token, and through the guarded client: the address is the server's answer,
    // images are public and often served by another host.
    let response: GuardedResponse;
    try {
      response = await contentClient.get(url, {
        timeoutMs,
        maxBytes: maxDownloadBytes,
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      signal?.throwIfAborted();
      if (err instanceof FetchRefusedError) {
        // No retry reaches it: the operator allows it (SUNSET_FETCH_ALLOW), or the server changes it.
        throw new InvalidPostError(`Mastodon ${what} not downloaded: ${err.message}`, {
          network,
          cause: err,
        });
      }
      if (err instanceof FetchFailedError) {
        throw new TransientError(`Mastodon ${what}: ${err.message}`, { network, cause: err });
      }
      const mapped = toNetworkError(err, action);
      // A socket error of node:http (refused, reset): worth another try, as fetch's "fetch failed" is.
      throw isNetworkError(mapped)
        ? mapped
        : new TransientError(`Mastodon: the connection failed while trying to ${action}`, {
            network,
            cause: err,
          });
    }
    if (response.status < 200 || response.status > 299) {
      throw errorFromStatus(response.status, action, undefined, response.headers);
    }
    const mediaType = response.headers.get('content-type')?.split(';')[0]?.trim();
    return { url, data: response.body, ...(mediaType ? { mediaType } : {}) };
  }

  async function credentials(signal?: AbortSignal): Promise<mastodon.v1.CredentialAccount> {
    return call('verify the credentials', signal, () =>
      client.v1.accounts.verifyCredentials(undefined, meta(signal)),
    );
  }

  async function handleOf(account: mastodon.v1.Account, signal?: AbortSignal): Promise<string> {
    if (account.acct.includes('@')) return `@${account.acct}`;
    // A local account's acct has no domain. The instance's own `domain` is the one in handles
    // (it can differ from the host serving the API); the API host is the fallback.
    let domain = instanceUrl.host;
    try {
      domain = (await fetchInstance(signal))?.domain || domain;
    } catch (err) {
      signal?.throwIfAborted();
      log.debug({ error: (err as Error).message }, 'instance unavailable; handle from the API host');
    }
    return `@${account.username}@${domain}`;
  }

  async function getProfile(signal?: AbortSignal): Promise<Profile> {
    const account = await credentials(signal);
    const [avatar, banner] = await Promise.all([
      download(account.avatar, 'avatar', signal),
      download(account.header, 'header', signal),
    ]);
    // `source` holds the note and field values as typed; the top-level ones are rendered HTML.
    const source = account.source as Partial<mastodon.v1.AccountSource> | undefined;
    const bio = source?.note !== undefined ? normalizeNewlines(source.note) : htmlToText(account.note);
    const fields = (
      source?.fields ?? account.fields.map((f) => ({ name: f.name, value: htmlToText(f.value) }))
    ).map((f) => ({ name: normalizeNewlines(f.name), value: normalizeNewlines(f.value) }));
    return {
      name: account.displayName,
      bio,
      ...(avatar ? { avatar } : {}),
      ...(banner ? { banner } : {}),
      fields,
    };
  }

  return {
    network,

    async verifyCredentials(opts = {}): Promise<AccountInfo> {
      const account = await credentials(opts.signal);
      return {
        network,
        id: account.id,
        handle: await handleOf(account, opts.signal),
        url: account.url ?? `${instanceUrl.origin}/@${account.username}`,
        ...(account.displayName ? { displayName: account.displayName } : {}),
      };
    },

    async limits(opts = {}): Promise<NetworkLimits> {
      return limits(opts.signal);
    },

    async followers(opts = {}): Promise<number> {
      return (await credentials(opts.signal)).followersCount;
    },

    async publish(part: PostPart, opts: PublishOptions): Promise<Published> {
      const { idempotencyKey, replyTo, signal } = opts;
      if (!IDEMPOTENCY_KEY.test(idempotencyKey)) {
        throw new InvalidPostError('The idempotency key must be 1 to 64 of [A-Za-z0-9._-]', { network });
      }
      const images = part.images ?? [];
      if (images.length > 0) {
        // The server's limits where it says; Mastodon's defaults when it cannot be asked (the
        // server still enforces its own).
        let known = DEFAULT_MASTODON_NETWORK_LIMITS;
        try {
          known = await limits(signal);
        } catch (err) {
          signal?.throwIfAborted();
          log.debug(
            { error: (err as Error).message },
            'limits unavailable; checking images against defaults',
          );
        }
        checkImages(images, known);
      }
      const mediaIds = await Promise.all(images.map((image, i) => uploadImage(image, i, signal)));
      const language = mastodonLanguage(part.language);
      const common = {
        visibility: 'public' as const,
        ...(replyTo ? { inReplyToId: replyTo.remoteId } : {}),
        ...(language ? { language } : {}),
      };
      const params: mastodon.rest.v1.CreateStatusParams =
        mediaIds.length > 0 ? { ...common, status: part.text, mediaIds } : { ...common, status: part.text };
      const { status, sentAt, retried } = await createStatus(params, idempotencyKey, signal);
      // Mastodon does not say whether it replayed a key. A status created before the request that
      // returned it was sent can only be a replay: of an earlier attempt (a worker retry) or of our
      // first attempt whose answer was lost. This assumes the server's clock is not behind ours
      // by more than the network latency; at worst the flag is wrong, never the id.
      const createdAt = Date.parse(status.createdAt);
      const alreadyExisted = !Number.isNaN(createdAt) && createdAt < sentAt;
      log.info(
        { idempotencyKey, remoteId: status.id, alreadyExisted, retried, images: mediaIds.length },
        alreadyExisted ? 'Mastodon post already existed' : 'Mastodon post published',
      );
      return { remoteId: status.id, url: status.url ?? status.uri, alreadyExisted };
    },

    async getProfile(opts = {}): Promise<Profile> {
      return getProfile(opts.signal);
    },

    async updateProfile(update: ProfileUpdate, opts = {}): Promise<Profile> {
      const { signal } = opts;
      const previous = await getProfile(signal);
      const params: {
        displayName?: string;
        note?: string;
        avatar?: Blob;
        header?: Blob;
        fieldsAttributes?: { name: string; value: string }[];
      } = {};
      if (update.name !== undefined) params.displayName = update.name;
      if (update.bio !== undefined) params.note = update.bio;
      if (update.avatar) {
        params.avatar = new File(
          [new Uint8Array(update.avatar.data)],
          `avatar.${extensionOf(update.avatar.mediaType)}`,
          {
            type: update.avatar.mediaType,
          },
        );
      }
      if (update.banner) {
        params.header = new File(
          [new Uint8Array(update.banner.data)],
          `header.${extensionOf(update.banner.mediaType)}`,
          {
            type: update.banner.mediaType,
          },
        );
      }
      if (update.fields !== undefined) {
        // Mastodon replaces all fields with those sent and drops blank pairs; sending nothing
        // would leave them unchanged, so "no fields" is sent as one blank pair.
        params.fieldsAttributes = update.fields.length > 0 ? update.fields : [{ name: '', value: '' }];
      }
      if (update.url !== undefined || update.location !== undefined) {
        log.debug('Mastodon profiles have no url or location: use fields for them');
      }
      if (Object.keys(params).length === 0) return previous;
      await call('update the profile', signal, () =>
        client.v1.accounts.updateCredentials(params, meta(signal)),
      );
      log.info({ changed: Object.keys(params) }, 'Mastodon profile updated');
      return previous;
    },

    // Its connections are the process's (patches/mastodon-http.ts): closing only refuses further calls.
    async close(): Promise<void> {
      closed = true;
    },
  };
}
