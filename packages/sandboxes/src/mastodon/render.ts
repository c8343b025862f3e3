import { crc32, deflateSync } from 'node:zlib';

/**
 * The sandbox's records and how they are rendered as Mastodon's REST entities (Status, Account,
 * CredentialAccount, MediaAttachment, Instance v2), in the shapes the Mastodon OpenAPI spec gives,
 * so that the real `masto` client and the spec checks both accept them.
 */

/** A stored file (avatar, header, media) and the URL it is served at. */
export interface SandboxFile {
  data: Uint8Array;
  mediaType: string;
  url: string;
}

export interface SandboxAccount {
  id: string;
  username: string;
  /** The bearer token this account is reached with (sandbox only: never a real secret). */
  token: string;
  displayName: string;
  /** Plain text, as typed: the server renders it as HTML. */
  note: string;
  bot: boolean;
  fields: { name: string; value: string }[];
  /** OAuth scopes granted to the token. */
  scopes: string[];
  avatar?: SandboxFile;
  header?: SandboxFile;
  createdAt: Date;
  /** What followers_count reads (a test sets it). */
  followers: number;
}

export interface SandboxMedia {
  id: string;
  accountId: string;
  file: SandboxFile;
  description: string | null;
  /** Processing is over from this time on (until then `url` is null and GET answers 206). */
  readyAt: number;
  statusId?: string;
}

export interface SandboxStatus {
  id: string;
  accountId: string;
  text: string;
  inReplyToId: string | null;
  mediaIds: string[];
  language: string | null;
  visibility: 'public' | 'unlisted' | 'private' | 'direct';
  idempotencyKey?: string;
  /** When it was made, on the wall clock (what created_at says). */
  createdAt: Date;
  /** When it was made on preciseNow's clock, to a fraction of a millisecond (for latency figures). */
  createdAtMs: number;
  pinned: boolean;
}

export interface InstanceLimits {
  maxCharacters: number;
  charactersReservedPerUrl: number;
  maxMediaAttachments: number;
  /** Alt text limit (configuration.media_attachments.description_limit). */
  descriptionLimit: number;
  imageSizeLimit: number;
  maxDisplayNameLength: number;
  maxNoteLength: number;
  maxProfileFields: number;
}

export const DEFAULT_INSTANCE_LIMITS: InstanceLimits = Object.freeze({
  maxCharacters: 500,
  charactersReservedPerUrl: 23,
  maxMediaAttachments: 4,
  descriptionLimit: 1500,
  imageSizeLimit: 16 * 1024 * 1024,
  maxDisplayNameLength: 30,
  maxNoteLength: 500,
  maxProfileFields: 4,
});

export const IMAGE_TYPES: Readonly<Record<string, string>> = Object.freeze({
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
});

export interface RenderContext {
  base: string;
  domain: string;
  limits: InstanceLimits;
  accounts: ReadonlyMap<string, SandboxAccount>;
  media: ReadonlyMap<string, SandboxMedia>;
  statuses: ReadonlyMap<string, SandboxStatus>;
  /** How many statuses answer each status (kept as they are made: none is ever deleted). */
  replyCounts: ReadonlyMap<string, number>;
  /** Each account's status count and latest status (kept the same way). */
  postedBy: ReadonlyMap<string, { count: number; last: SandboxStatus }>;
  now: number;
}

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const URL_IN_TEXT = /https?:\/\/[^\s<>"]+/g;

// Mastodon shows a link without its scheme and cuts it after 30 characters, keeping the rest in
// invisible spans: reading the text of every span gives the URL back, which the connector relies on.
function linkHtml(url: string): string {
  const scheme = /^https?:\/\//.exec(url)?.[0] ?? '';
  const rest = url.slice(scheme.length);
  const shown = rest.slice(0, 30);
  const hidden = rest.slice(30);
  return (
    `<a href="${escapeHtml(url)}" target="_blank" rel="nofollow noopener">` +
    `<span class="invisible">${escapeHtml(scheme)}</span>` +
    `<span class="${hidden ? 'ellipsis' : ''}">${escapeHtml(shown)}</span>` +
    `<span class="invisible">${escapeHtml(hidden)}</span></a>`
  );
}

function lineHtml(line: string): string {
  let html = '';
  let index = 0;
  for (const match of line.matchAll(URL_IN_TEXT)) {
    html += escapeHtml(line.slice(index, match.index)) + linkHtml(match[0]);
    index = match.index + match[0].length;
  }
  return html + escapeHtml(line.slice(index));
}

/** Plain text as Mastodon renders it: paragraphs on blank lines, <br /> on single newlines. */
export function textToHtml(text: string): string {
  const normalized = text.replaceAll('\r\n', '\n').trim();
  if (normalized === '') return '';
  return normalized
    .split(/\n{2,}/)
    .map((paragraph) => `<p>${paragraph.split('\n').map(lineHtml).join('<br />')}</p>`)
    .join('');
}

function day(date: Date): string {
  return date.toISOString().slice(0, 10);
}

function defaultImage(ctx: RenderContext, kind: 'avatars' | 'headers'): string {
  return `${ctx.base}/${kind}/original/missing.png`;
}

export function accountJson(ctx: RenderContext, account: SandboxAccount): Record<string, unknown> {
  const posted = ctx.postedBy.get(account.id);
  const avatar = account.avatar?.url ?? defaultImage(ctx, 'avatars');
  const header = account.header?.url ?? defaultImage(ctx, 'headers');
  return {
    id: account.id,
    username: account.username,
    acct: account.username,
    display_name: account.displayName,
    locked: false,
    bot: account.bot,
    discoverable: true,
    indexable: false,
    group: false,
    // Mastodon gives accounts' creation dates at midnight.
    created_at: `${day(account.createdAt)}T00:00:00.000Z`,
    note: textToHtml(account.note),
    url: `${ctx.base}/@${account.username}`,
    uri: `${ctx.base}/users/${account.username}`,
    avatar,
    avatar_static: avatar,
    header,
    header_static: header,
    followers_count: account.followers,
    following_count: 0,
    statuses_count: posted?.count ?? 0,
    last_status_at: posted ? day(posted.last.createdAt) : null,
    hide_collections: false,
    noindex: false,
    emojis: [],
    roles: [],
    fields: account.fields.map((f) => ({
      name: f.name,
      value: textToHtml(f.value).replace(/^<p>|<\/p>$/g, ''),
      verified_at: null,
    })),
  };
}

export function credentialAccountJson(ctx: RenderContext, account: SandboxAccount): Record<string, unknown> {
  return {
    ...accountJson(ctx, account),
    source: {
      privacy: 'public',
      sensitive: false,
      language: null,
      note: account.note,
      fields: account.fields.map((f) => ({ name: f.name, value: f.value, verified_at: null })),
      follow_requests_count: 0,
      indexable: false,
      discoverable: true,
      hide_collections: false,
      attribution_domains: [],
    },
    role: { id: '-99', name: '', permissions: '65536', color: '', highlighted: false },
  };
}

export function mediaJson(ctx: RenderContext, media: SandboxMedia): Record<string, unknown> {
  const ready = ctx.now >= media.readyAt;
  return {
    id: media.id,
    type: 'image',
    url: ready ? media.file.url : null,
    preview_url: ready ? media.file.url : null,
    remote_url: null,
    preview_remote_url: null,
    text_url: null,
    meta: ready ? { original: { size: `${media.file.data.byteLength} bytes` } } : null,
    description: media.description,
    blurhash: null,
  };
}

export function statusJson(ctx: RenderContext, status: SandboxStatus): Record<string, unknown> {
  const account = ctx.accounts.get(status.accountId);
  if (!account) throw new Error(`sandbox: status ${status.id} has no account`);
  const parent = status.inReplyToId ? ctx.statuses.get(status.inReplyToId) : undefined;
  const replies = ctx.replyCounts.get(status.id) ?? 0;
  return {
    id: status.id,
    created_at: status.createdAt.toISOString(),
    in_reply_to_id: status.inReplyToId,
    in_reply_to_account_id: parent?.accountId ?? null,
    sensitive: false,
    spoiler_text: '',
    visibility: status.visibility,
    language: status.language,
    uri: `${ctx.base}/users/${account.username}/statuses/${status.id}`,
    url: `${ctx.base}/@${account.username}/${status.id}`,
    replies_count: replies,
    reblogs_count: 0,
    favourites_count: 0,
    quotes_count: 0,
    edited_at: null,
    favourited: false,
    reblogged: false,
    muted: false,
    bookmarked: false,
    pinned: status.pinned,
    content: textToHtml(status.text),
    filtered: [],
    reblog: null,
    application: { name: 'sunset', website: null },
    account: accountJson(ctx, account),
    media_attachments: status.mediaIds.flatMap((id) => {
      const media = ctx.media.get(id);
      return media ? [mediaJson(ctx, media)] : [];
    }),
    mentions: [],
    tags: [],
    emojis: [],
    card: null,
    poll: null,
    quote: null,
  };
}

export function instanceJson(ctx: RenderContext): Record<string, unknown> {
  const { limits } = ctx;
  return {
    domain: ctx.domain,
    title: 'Sunset sandbox',
    version: '4.5.0',
    source_url: 'https://github.com/mastodon/mastodon',
    description: 'A local stand-in for a Mastodon server, for tests.',
    usage: { users: { active_month: ctx.accounts.size } },
    thumbnail: { url: `${ctx.base}/packs/media/images/preview.png`, blurhash: null, versions: {} },
    icon: [],
    languages: ['en', 'fr'],
    configuration: {
      urls: { streaming: null, status: null, about: `${ctx.base}/about`, privacy_policy: null },
      accounts: {
        max_featured_tags: 10,
        max_pinned_statuses: 5,
        max_display_name_length: limits.maxDisplayNameLength,
        max_note_length: limits.maxNoteLength,
        max_profile_fields: limits.maxProfileFields,
        profile_field_name_limit: 255,
        profile_field_value_limit: 255,
      },
      statuses: {
        max_characters: limits.maxCharacters,
        max_media_attachments: limits.maxMediaAttachments,
        characters_reserved_per_url: limits.charactersReservedPerUrl,
      },
      media_attachments: {
        supported_mime_types: Object.keys(IMAGE_TYPES),
        description_limit: limits.descriptionLimit,
        image_size_limit: limits.imageSizeLimit,
        image_matrix_limit: 33_177_600,
        video_size_limit: 103_809_024,
        video_frame_rate_limit: 120,
        video_matrix_limit: 8_294_400,
      },
      polls: {
        max_options: 4,
        max_characters_per_option: 50,
        min_expiration: 300,
        max_expiration: 2_629_746,
      },
      translation: { enabled: false },
    },
    registrations: { enabled: false, approval_required: false, message: null },
    api_versions: { mastodon: 7 },
    contact: { email: 'sandbox@example.invalid', account: null },
    rules: [],
  };
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.byteLength);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A 1×1 transparent PNG: what Mastodon serves as missing.png for an account without images. */
export function placeholderPng(): Uint8Array {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(1, 0);
  header.writeUInt32BE(1, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8 bits, RGBA, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(Buffer.from([0, 0, 0, 0, 0]))),
    pngChunk('IEND', new Uint8Array()),
  ]);
}
