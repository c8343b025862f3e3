/** Accounts and their profiles: v2 users, the v1.1 account endpoints, avatar and banner images. */
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { encodePng, sniffImage } from './images.ts';
import {
  isUploadedFile,
  type Account,
  type Answer,
  type XSandboxAccountInput,
  type XSandboxImage,
  type XSandboxPost,
} from './model.ts';
import { asRecord, codePoints, fieldList, formBody, v1Error } from './protocol.ts';
import type { XState } from './state.ts';

const ACCESS_LEVEL_453 =
  'You currently have access to a subset of X API V2 endpoints and limited v1.1 endpoints (e.g. media post, oauth) only. If you need access to this endpoint, you may need a different access level. You can learn more here: https://developer.x.com/en/portal/product';
const MAX_AVATAR_BYTES = 700 * 1024;
const MAX_BANNER_BYTES = 5 * 1024 * 1024;
const PROFILE_LIMITS = { name: 50, url: 100, location: 30, description: 160 } as const;

const DEFAULT_FOLLOWERS = 1200;

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Wed Oct 10 20:19:24 +0000 2018", as v1.1 writes dates. */
function v1Date(date: Date): string {
  const day = String(date.getUTCDate()).padStart(2, '0');
  const time = date.toISOString().slice(11, 19);
  return `${WEEKDAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${day} ${time} +0000 ${date.getUTCFullYear()}`;
}

function extensionOf(mediaType: string): string {
  return mediaType === 'image/jpeg' ? 'jpg' : (mediaType.split('/')[1] ?? 'bin');
}

export function addAccount(state: XState, input: XSandboxAccountInput): void {
  const knownSecret = state.appSecrets.get(input.appKey);
  if (knownSecret !== undefined && knownSecret !== input.appSecret) {
    throw new Error(`app ${input.appKey} is already registered with another secret`);
  }
  if (state.accounts.some((a) => a.id === input.id)) throw new Error(`account ${input.id} exists`);
  state.appSecrets.set(input.appKey, input.appSecret);
  state.tokens.set(`${input.appKey}\u0000${input.accessToken}`, {
    secret: input.accessSecret,
    accountId: input.id,
  });
  const avatar = encodePng(48, 48, [0x88, 0x99, 0xa6], state.accounts.length);
  state.accounts.push({
    ...input,
    avatarSerial: 0,
    profile: {
      name: input.name,
      description: input.profile?.description ?? '',
      url: input.profile?.url,
      location: input.profile?.location ?? '',
      avatar: { data: avatar, mediaType: 'image/png', url: avatarUrl(state, input.id, 0, 'image/png') },
      banner: undefined,
    },
  });
}

export function userV2(state: XState, account: Account, req: FastifyRequest): Record<string, unknown> {
  const fields = fieldList(req.query, 'user.fields');
  const p = account.profile;
  const out: Record<string, unknown> = { id: account.id, name: p.name, username: account.username };
  if (fields.has('description')) out.description = p.description;
  if (fields.has('location')) out.location = p.location;
  if (fields.has('url')) out.url = p.url ?? '';
  if (fields.has('profile_image_url')) out.profile_image_url = p.avatar.url.replace(/(\.\w+)$/, '_normal$1');
  if (fields.has('protected')) out.protected = false;
  if (fields.has('public_metrics')) {
    out.public_metrics = {
      followers_count: account.followers ?? DEFAULT_FOLLOWERS,
      following_count: 80,
      post_count: state.posts.filter((post) => post.accountId === account.id).length,
      listed_count: 3,
    };
  }
  return out;
}

function avatarUrl(state: XState, accountId: string, serial: number, mediaType: string): string {
  return `${state.url}/profile_images/${accountId}/${serial}.${extensionOf(mediaType)}`;
}

export function profileGate(state: XState): Answer | undefined {
  return state.profileApi === 'forbidden' ? v1Error(403, 453, ACCESS_LEVEL_453) : undefined;
}

export function userV1(state: XState, account: Account): Record<string, unknown> {
  const p = account.profile;
  const avatarUrl = p.avatar.url;
  const description = state.shorten(p.description);
  const url = p.url ? state.shorten(p.url) : undefined;
  const entity = (u: XSandboxPost['urls'][number]) => ({
    url: u.url,
    expanded_url: u.expandedUrl,
    display_url: u.displayUrl,
    indices: [u.start, u.end],
  });
  return {
    id: Number(account.id),
    id_str: account.id,
    name: p.name,
    screen_name: account.username,
    location: p.location,
    description: description.text,
    url: url?.text ?? null,
    entities: {
      ...(url ? { url: { urls: url.urls.map(entity) } } : {}),
      description: { urls: description.urls.map(entity) },
    },
    protected: false,
    followers_count: account.followers ?? DEFAULT_FOLLOWERS,
    friends_count: 80,
    listed_count: 3,
    created_at: v1Date(new Date(Date.UTC(2010, 2, 4, 9, 30))),
    favourites_count: 0,
    verified: false,
    statuses_count: state.posts.filter((post) => post.accountId === account.id).length,
    profile_image_url: avatarUrl.replace(/^https:/, 'http:').replace(/(\.\w+)$/, '_normal$1'),
    profile_image_url_https: avatarUrl.replace(/(\.\w+)$/, '_normal$1'),
    ...(p.banner ? { profile_banner_url: p.banner.url } : {}),
    default_profile: false,
    default_profile_image: false,
  };
}

export function updateProfile(state: XState, req: FastifyRequest, account: Account): Answer {
  const gate = profileGate(state);
  if (gate) return gate;
  const params = formBody(req);
  const changes: Partial<Record<keyof typeof PROFILE_LIMITS, string>> = {};
  for (const field of Object.keys(PROFILE_LIMITS) as (keyof typeof PROFILE_LIMITS)[]) {
    const value = params.get(field);
    if (value === undefined) continue;
    if (codePoints(value) > PROFILE_LIMITS[field]) {
      return v1Error(
        403,
        120,
        `Account update failed: ${field === 'description' ? 'Description' : field[0]?.toUpperCase() + field.slice(1)} is too long (maximum is ${PROFILE_LIMITS[field]} characters).`,
      );
    }
    changes[field] = value;
  }
  if (changes.url !== undefined && changes.url !== '' && !/^https?:\/\/\S+$/.test(changes.url)) {
    return v1Error(403, 120, 'Account update failed: URL is not valid.');
  }
  if (changes.name !== undefined && changes.name.trim() !== '') account.profile.name = changes.name;
  if (changes.description !== undefined) account.profile.description = changes.description;
  if (changes.location !== undefined) account.profile.location = changes.location;
  if (changes.url !== undefined) account.profile.url = changes.url === '' ? undefined : changes.url;
  return { status: 200, body: userV1(state, account) };
}

function imageField(req: FastifyRequest, field: string, limit: number): XSandboxImage | Answer {
  const file = asRecord(req.body)?.[field];
  if (!isUploadedFile(file)) return v1Error(400, 38, `${field} parameter is missing.`);
  const data = file.data;
  const sniffed = sniffImage(data);
  if (!sniffed || sniffed.mediaType === 'image/webp') {
    return v1Error(400, 324, 'Image is not a valid GIF, JPG or PNG.');
  }
  if (data.length > limit) return v1Error(400, 324, `Image file size must be <= ${limit} bytes.`);
  return { data, mediaType: sniffed.mediaType, url: '' };
}

export function updateImage(state: XState, req: FastifyRequest, account: Account): Answer {
  const gate = profileGate(state);
  if (gate) return gate;
  const image = imageField(req, 'image', MAX_AVATAR_BYTES);
  if (!('data' in image)) return image;
  account.avatarSerial += 1;
  account.profile.avatar = {
    ...image,
    url: avatarUrl(state, account.id, account.avatarSerial, image.mediaType),
  };
  return { status: 200, body: userV1(state, account) };
}

export function updateBanner(state: XState, req: FastifyRequest, account: Account): Answer {
  const gate = profileGate(state);
  if (gate) return gate;
  const image = imageField(req, 'banner', MAX_BANNER_BYTES);
  if (!('data' in image)) return image;
  const stamp = Math.floor(Date.now() / 1000) * 1000 + (randomBytes(2).readUInt16BE() % 1000);
  account.profile.banner = { ...image, url: `${state.url}/profile_banners/${account.id}/${stamp}` };
  // X answers an accepted banner with 201 and no body.
  return { status: 201 };
}

export function serveAvatar(state: XState, req: FastifyRequest): Answer {
  const params = asRecord(req.params);
  const account = state.accounts.find((a) => a.id === params?.uid);
  const wanted = String(params?.file).replace(/_(normal|bigger|mini|400x400)(\.\w+)$/, '$2');
  const avatar = account?.profile.avatar;
  if (!account || !avatar || !avatar.url.endsWith(`/${wanted}`)) return { status: 404, raw: Buffer.alloc(0) };
  return { status: 200, raw: avatar.data, headers: { 'content-type': avatar.mediaType } };
}

export function serveBanner(state: XState, req: FastifyRequest): Answer {
  const params = asRecord(req.params);
  const banner = state.accounts.find((a) => a.id === params?.uid)?.profile.banner;
  if (!banner || !banner.url.endsWith(`/${String(params?.stamp)}`))
    return { status: 404, raw: Buffer.alloc(0) };
  return { status: 200, raw: banner.data, headers: { 'content-type': banner.mediaType } };
}
