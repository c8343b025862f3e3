/**
 * The exit plan's schema: the single source of truth for its shape. The JSON Schema that editors
 * use (config/schema/plan.schema.json) is generated from it (`pnpm schema`), and validation runs
 * it through Ajv. Rules a JSON Schema cannot say (time expressions, placeholders, lengths after
 * expansion, files on disk, cross-references) live in validate.ts.
 */
import { Type, type Static } from 'typebox';

const closed = { additionalProperties: false } as const;

export const NetworkName = Type.Union(
  [Type.Literal('x'), Type.Literal('bluesky'), Type.Literal('mastodon')],
  {
    title: 'network',
    description: 'One of the networks: x, bluesky, mastodon.',
  },
);

export const NetworkList = Type.Array(NetworkName, {
  uniqueItems: true,
  description: 'A list of networks, each at most once.',
});

/** A time expression: an absolute local time or an offset from the sunset. Parsed in time.ts. */
export const TimeExpression = Type.String({
  title: 'time',
  description:
    'Local time in organisation.timezone ("2027-01-20T09:00") or relative to the sunset ' +
    '("sunset", "sunset - 7d", "sunset + 2h", "sunset + 1d 30m"; units w, d, h, m, s). ' +
    'Days and weeks keep the local clock time across daylight-saving changes.',
  minLength: 1,
});

export const CredentialRef = Type.String({
  title: 'credential reference',
  description:
    "Where the secret is read from at run time, inside the organisation's own namespace: " +
    '"env:<PREFIX>__NAME", a variable whose name starts with the organisation id upper-cased, "-" as "_", then "__" ' +
    '(ville-de-tours: env:VILLE_DE_TOURS__X_APP_KEY), or "file:name", a file in the organisation\'s folder of the ' +
    'secrets folder (SUNSET_SECRETS_DIR/ville-de-tours/x_access_token), never absolute and without "..". ' +
    'Never the secret itself.',
  minLength: 1,
  examples: ['env:VILLE_DE_TOURS__X_APP_KEY', 'file:x_access_token'],
});

const HttpUrl = Type.String({
  title: 'URL',
  description: 'An http(s) URL.',
  pattern: '^https?://[^\\s/$.?#][^\\s]*$',
});

const XCredentials = Type.Object(
  {
    app_key: CredentialRef,
    app_secret: CredentialRef,
    access_token: CredentialRef,
    access_secret: CredentialRef,
  },
  { ...closed, description: 'OAuth 1.0a user-context keys of the X app, as references.' },
);
const BlueskyCredentials = Type.Object(
  { identifier: CredentialRef, app_password: CredentialRef },
  {
    ...closed,
    description: 'Login identifier and an app password (not the account password), as references.',
  },
);
const MastodonCredentials = Type.Object(
  { access_token: CredentialRef },
  { ...closed, description: 'An access token of an application on the instance, as a reference.' },
);

export const XNetwork = Type.Object(
  {
    account: Type.String({
      title: 'X account',
      description: 'The @handle of the X account.',
      pattern: '^@?[A-Za-z0-9_]{1,15}$',
    }),
    credentials: XCredentials,
    api_base: Type.Optional(
      Type.String({ ...HttpUrl, description: 'Base URL of the X API (a proxy, or the sandbox in tests).' }),
    ),
    budget: Type.Optional(
      Type.Object(
        {
          monthly: Type.Number({
            minimum: 0,
            description: 'What X may cost per calendar month (UTC), in `currency`, reads included.',
          }),
          crisis_reserve: Type.Number({
            minimum: 0,
            description:
              'Kept for crisis posts: an ordinary post that would dip into it is held for a person to decide.',
          }),
          currency: Type.Optional(
            Type.Literal('USD', { description: 'The currency X bills in (USD, the default).' }),
          ),
        },
        {
          ...closed,
          description:
            "X's pay-per-use spend (prices: SUNSET_X_PRICES, X's published ones by default); crisis posts always go while credits last.",
        },
      ),
    ),
    daily_caps: Type.Optional(
      Type.Object(
        {
          posts: Type.Integer({ minimum: 1, description: 'Original posts per rolling 24 hours.' }),
          replies: Type.Integer({ minimum: 1, description: 'Replies per rolling 24 hours.' }),
          crisis_reserve: Type.Optional(
            Type.Integer({
              minimum: 0,
              description: 'Originals kept for crisis posts within the 24 hours (default 0).',
            }),
          ),
        },
        {
          ...closed,
          description:
            "The account's 24-hour caps (accounts without a verified badge: about 50 posts and 200 replies); left out, no cap.",
        },
      ),
    ),
  },
  { ...closed, description: 'The X account being retired.' },
);

export const BlueskyNetwork = Type.Object(
  {
    handle: Type.String({
      title: 'Bluesky handle',
      description: 'The account handle, a domain name such as "tours.fr" or "ville.bsky.social".',
      pattern:
        '^@?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$',
    }),
    service: Type.Optional(
      Type.String({
        ...HttpUrl,
        description:
          'The PDS that hosts the account (default https://bsky.social); self-hosted ones work the same.',
      }),
    ),
    credentials: BlueskyCredentials,
  },
  { ...closed, description: 'The Bluesky account.' },
);

export const MastodonNetwork = Type.Object(
  {
    instance: Type.String({
      ...HttpUrl,
      description: 'The Mastodon server, e.g. "https://social.tours.fr".',
    }),
    account: Type.String({
      title: 'Mastodon account',
      description: 'The full address of the account, "@name@server".',
      pattern: '^@?[A-Za-z0-9_]+(\\.[A-Za-z0-9_]+)*@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$',
    }),
    credentials: MastodonCredentials,
    limits: Type.Optional(
      Type.Object(
        {
          max_characters: Type.Optional(
            Type.Integer({ minimum: 1, description: 'Post length limit (default 500).' }),
          ),
          characters_reserved_per_url: Type.Optional(
            Type.Integer({ minimum: 1, description: 'What each link counts for (default 23).' }),
          ),
        },
        {
          ...closed,
          description:
            "The instance's limits when they differ from Mastodon's defaults; the engine reads them from the server too.",
        },
      ),
    ),
  },
  { ...closed, description: 'The Mastodon account.' },
);

export const Networks = Type.Object(
  {
    x: Type.Optional(XNetwork),
    bluesky: Type.Optional(BlueskyNetwork),
    mastodon: Type.Optional(MastodonNetwork),
  },
  { ...closed, minProperties: 1, description: 'The accounts the plan acts on; at least one.' },
);

export const Organisation = Type.Object(
  {
    id: Type.String({
      title: 'organisation id',
      description:
        'Lower-case letters and digits in groups joined by single dashes, e.g. "ville-de-tours" (no "--", no dash at ' +
        'either end); unique per deployment. It names the secrets the plan may use: variables VILLE_DE_TOURS__… and ' +
        'files in SUNSET_SECRETS_DIR/ville-de-tours/.',
      pattern: '^[a-z0-9]+(-[a-z0-9]+)*$',
      maxLength: 64,
    }),
    name: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'The name people know the organisation by.',
    }),
    timezone: Type.String({
      minLength: 1,
      description: 'IANA time zone, e.g. "Europe/Paris"; every local time in the plan is in it.',
    }),
    locale: Type.String({
      minLength: 2,
      description: 'BCP 47 language tag of the posts, e.g. "fr-FR"; dates in texts are written in it.',
    }),
    website: Type.Optional(Type.String({ ...HttpUrl, description: "The organisation's website." })),
  },
  { ...closed, description: 'Who the plan is for.' },
);

export const Sunset = Type.Object(
  {
    at: Type.String({
      title: 'sunset time',
      description: 'Local date and time of the sunset in organisation.timezone, e.g. "2027-01-20T09:00".',
      minLength: 1,
    }),
    x_after: Type.Union([Type.Literal('crisis-only'), Type.Literal('frozen'), Type.Literal('leave')], {
      title: 'what X does after the sunset',
      description:
        'crisis-only: X takes crisis posts only; frozen: nothing more, not even crisis; ' +
        'leave: a checklist to close the account by hand (X has no deactivation API).',
    }),
  },
  {
    ...closed,
    description: 'When the organisation stops publishing on X, and what X is used for afterwards.',
  },
);

export const ImageRef = Type.Object(
  {
    file: Type.String({
      minLength: 1,
      description: 'Image file (PNG, JPEG, GIF or WebP), relative to the plan file and inside its folder.',
    }),
    alt: Type.String({
      description: 'Alternative text read by screen readers: required on every image (RGAA).',
    }),
  },
  { ...closed, description: 'An image with its alternative text.' },
);

const Variants = Type.Object(
  {
    x: Type.Optional(Type.String({ minLength: 1 })),
    bluesky: Type.Optional(Type.String({ minLength: 1 })),
    mastodon: Type.Optional(Type.String({ minLength: 1 })),
  },
  { ...closed, description: 'Per-network text replacing `text` on that network.' },
);

export const Post = Type.Object(
  {
    id: Type.String({
      title: 'post id',
      description: 'Stable identifier of the post within the plan: letters, digits, dashes and underscores.',
      pattern: '^[A-Za-z0-9][A-Za-z0-9_-]*$',
      maxLength: 64,
    }),
    at: TimeExpression,
    on: Type.Array(NetworkName, { minItems: 1, uniqueItems: true, description: 'Networks to post on.' }),
    text: Type.String({
      minLength: 1,
      description:
        'The text. Placeholders: {sunset.date}, {sunset.time}, {bluesky.handle}, {bluesky.url}, ' +
        '{mastodon.handle}, {mastodon.url}, {x.handle}, {x.url}, {organisation.name}, {organisation.website}, ' +
        '{bluesky.starter_pack} (with audience.starter_pack).',
    }),
    variants: Type.Optional(Variants),
    images: Type.Optional(Type.Array(ImageRef, { maxItems: 4, description: 'Up to 4 images.' })),
    language: Type.Optional(
      Type.String({
        minLength: 2,
        description: 'Language of this post when it differs from organisation.locale.',
      }),
    ),
    overflow: Type.Optional(
      Type.Union([Type.Literal('thread'), Type.Literal('error')], {
        title: 'overflow',
        description:
          'What to do when the text is over a network\'s limit: "thread" (default) splits it into numbered ' +
          'replies; "error" refuses the plan at validation.',
      }),
    ),
  },
  { ...closed, description: 'A scheduled post.' },
);

const Colour = Type.String({ pattern: '^#[0-9A-Fa-f]{6}$', description: 'Background colour, "#rrggbb".' });
export const BannerSpec = Type.Union(
  [
    Type.Literal('keep'),
    Type.String({ minLength: 1, pattern: '^(?!keep$).+' }),
    Type.Object(
      {
        generate: Type.Literal('flat-ecg'),
        caption: Type.Optional(
          Type.String({ maxLength: 200, description: 'Text written under the flat trace.' }),
        ),
        colour: Type.Optional(Colour),
      },
      closed,
    ),
  ],
  {
    title: 'banner',
    description:
      '"keep", an image file relative to the plan (inside its folder), or { generate: flat-ecg, caption, colour }.',
  },
);

export const AvatarSpec = Type.Union(
  [
    Type.Literal('keep'),
    Type.String({ minLength: 1, pattern: '^(?!keep$).+' }),
    Type.Object({ generate: Type.Literal('flat-ecg-avatar'), colour: Type.Optional(Colour) }, closed),
  ],
  {
    title: 'avatar',
    description:
      '"keep", an image file relative to the plan (inside its folder), or { generate: flat-ecg-avatar }.',
  },
);

export const ProfileSpec = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, description: 'Display name.' })),
    bio: Type.Optional(Type.String({ description: 'Biography / description; placeholders allowed.' })),
    url: Type.Optional(Type.String({ ...HttpUrl, description: 'Website shown on the profile (X only).' })),
    location: Type.Optional(Type.String({ description: 'Location shown on the profile (X only).' })),
    banner: Type.Optional(BannerSpec),
    avatar: Type.Optional(AvatarSpec),
    fields: Type.Optional(
      Type.Array(
        Type.Object(
          { name: Type.String({ minLength: 1 }), value: Type.String({ minLength: 1 }) },
          { ...closed },
        ),
        { maxItems: 4, description: 'Profile metadata fields (Mastodon only), up to 4.' },
      ),
    ),
  },
  { ...closed, description: 'What the profile becomes; anything left out stays as it is.' },
);

export const DormantProfile = Type.Object(
  {
    at: TimeExpression,
    x: Type.Optional(ProfileSpec),
    bluesky: Type.Optional(ProfileSpec),
    mastodon: Type.Optional(ProfileSpec),
  },
  {
    ...closed,
    description:
      'The dormant ("flat ECG") profile applied at `at`; the previous profile is kept so it can be restored.',
  },
);

export const Mirror = Type.Object(
  {
    before_sunset: Type.Optional(NetworkList),
    after_sunset: Type.Optional(NetworkList),
    approval: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('second-person')], {
        title: 'approval',
        description:
          'none, or second-person: each ordinary post waits until a different person (editor or admin token) approves it.',
      }),
    ),
  },
  {
    ...closed,
    description: 'Networks that ordinary posts (API POST /v1/posts) go to, before and after the sunset.',
  },
);

export const CrisisCap = Type.Object(
  {
    languages: Type.Optional(
      Type.Array(
        Type.String({
          pattern: '^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$',
          description: 'A language tag, e.g. "fr" or "en-GB".',
        }),
        {
          minItems: 1,
          maxItems: 10,
          uniqueItems: true,
          description:
            'The <info> block to post, by language in order of preference; default organisation.locale, then en.',
        },
      ),
    ),
    cancel_text: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 500,
        description:
          'Posted under the original for a CAP Cancel without <info>; default "Alerte levée." (French) or "This alert has been cancelled.".',
      }),
    ),
    update_text: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 500,
        description:
          'Posted under the original for a CAP Update without <info>; default "L\'alerte a été mise à jour." or "This alert has been updated.".',
      }),
    ),
  },
  { ...closed, description: 'How CAP alerts sent to the crisis endpoint are read.' },
);

const SEVERITY_LITERALS = [
  Type.Literal('Minor'),
  Type.Literal('Moderate'),
  Type.Literal('Severe'),
  Type.Literal('Extreme'),
];
const AWARENESS_LITERALS = [Type.Literal('yellow'), Type.Literal('orange'), Type.Literal('red')];
const AwarenessLevel = Type.Union(AWARENESS_LITERALS, {
  title: 'awareness level',
  description:
    'A MeteoAlarm awareness level (the colour of its awareness_level parameter): yellow, orange, red.',
});

export const CrisisFeed = Type.Object(
  {
    url: Type.String({
      ...HttpUrl,
      description:
        'An Atom feed of CAP entries (MeteoAlarm style: entries embed the CAP or link to it), an RSS 2.0 feed whose items link to CAP documents, or the address of one CAP alert.',
    }),
    areas: Type.Optional(
      Type.Array(
        Type.String({
          minLength: 1,
          maxLength: 100,
          description:
            'A geocode value (FR372), an area name as the alert writes it (Indre-et-Loire), or a point as latitude,longitude (47.39,0.69).',
        }),
        {
          minItems: 1,
          maxItems: 500,
          uniqueItems: true,
          description:
            'The areas to keep: an alert is kept when one of its areas has a geocode value listed here (EMMA_ID, NUTS3, a national code), is named here (its areaDesc, case aside), or has a polygon or circle around a point listed here (latitude,longitude in decimal degrees). Default: every area.',
        },
      ),
    ),
    min_severity: Type.Optional(
      Type.Union(SEVERITY_LITERALS, {
        title: 'CAP severity',
        description: 'Only alerts at least this severe (CAP <severity>): Minor, Moderate, Severe, Extreme.',
      }),
    ),
    awareness_levels: Type.Optional(
      Type.Array(AwarenessLevel, {
        minItems: 1,
        uniqueItems: true,
        description:
          'Only alerts at these MeteoAlarm awareness levels (yellow, orange, red); an alert without the parameter is left out.',
      }),
    ),
    events: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
        minItems: 1,
        maxItems: 100,
        uniqueItems: true,
        description:
          'Only these events: the CAP <event> or MeteoAlarm\'s awareness_type name ("Wind", "Thunderstorm"), compared without case; a word of the event is enough.',
      }),
    ),
    mode: Type.Optional(
      Type.Union([Type.Literal('approve'), Type.Literal('post')], {
        title: 'feed mode',
        description:
          'approve (default): each kept alert becomes a crisis post that waits for a person to approve it; post: posted at once when it reaches post_at.',
      }),
    ),
    post_at: Type.Optional(
      Type.Union([...SEVERITY_LITERALS, ...AWARENESS_LITERALS], {
        title: 'post threshold',
        description:
          'With mode: post, the level from which a kept alert is posted at once: a CAP severity (Moderate…) or an awareness level (yellow…); below it the alert waits for approval. Default: every kept alert is posted.',
      }),
    ),
    interval: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,6}(s|m|h)$',
        description: 'How often the feed is read, e.g. "2m", "90s", "1h" (default 5m).',
      }),
    ),
  },
  { ...closed, description: 'A CAP feed the worker watches for this organisation.' },
);

export const Crisis = Type.Object(
  {
    on: Type.Array(NetworkName, {
      minItems: 1,
      uniqueItems: true,
      description: 'Networks crisis posts reach.',
    }),
    label: Type.Optional(
      Type.String({ maxLength: 40, description: 'Put before the text of every crisis post.' }),
    ),
    link: Type.Optional(
      Type.String({ ...HttpUrl, description: 'Official page, appended when a message carries no link.' }),
    ),
    hashtags: Type.Optional(
      Type.Array(Type.String({ pattern: '^#[^\\s#]+$', description: 'A hashtag, "#Word".' }), {
        maxItems: 5,
      }),
    ),
    approval: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('second-person')], {
        title: 'approval',
        description: 'none, or second-person: a different crisis token must approve each crisis post.',
      }),
    ),
    cap: Type.Optional(CrisisCap),
    feeds: Type.Optional(
      Type.Array(CrisisFeed, {
        maxItems: 20,
        description: 'CAP feeds to watch: their alerts become crisis posts (approved first, by default).',
      }),
    ),
  },
  { ...closed, description: 'How crisis messages are posted.' },
);

const BlueskyHandle = Type.String({
  title: 'Bluesky handle',
  description: 'A Bluesky handle, a domain name such as "tours.fr" or "ville.bsky.social".',
  pattern: '^@?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$',
});
const MastodonAccount = Type.String({
  title: 'Mastodon account',
  description: 'The full address of a Mastodon account, "@name@server".',
  pattern: '^@?[A-Za-z0-9_]+(\\.[A-Za-z0-9_]+)*@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$',
});

export const AudienceAccount = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'Who the account is, as people know it.',
    }),
    relation: Type.Union(
      [Type.Literal('own'), Type.Literal('service'), Type.Literal('mayor'), Type.Literal('partner')],
      {
        title: 'relation',
        description:
          "own: another account of the organisation; service: one of its services; mayor: the mayor's (or president's) office; partner: a partner authority.",
      },
    ),
    bluesky: Type.Optional(BlueskyHandle),
    mastodon: Type.Optional(MastodonAccount),
    website: Type.Optional(Type.String({ ...HttpUrl, description: "The account holder's website." })),
  },
  { ...closed, description: 'An account to follow, on Bluesky, Mastodon or both.' },
);

export const StarterPack = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      description: "The starter pack's name (and its list's): at most 50 graphemes and 64 characters.",
    }),
    description: Type.Optional(
      Type.String({ description: 'What the pack is, shown under its name: at most 300 graphemes.' }),
    ),
  },
  { ...closed, description: 'The Bluesky starter pack the worker keeps of the audience accounts.' },
);

export const Audience = Type.Object(
  {
    accounts: Type.Optional(
      Type.Array(AudienceAccount, {
        maxItems: 149,
        description:
          "Accounts to follow besides the plan's own (networks.bluesky, networks.mastodon): the organisation's other accounts, its services, the mayor's office, partner authorities.",
      }),
    ),
    starter_pack: Type.Optional(StarterPack),
    at: Type.Optional(
      Type.String({
        ...TimeExpression,
        description:
          'When the Bluesky list and starter pack are made or brought in step (default: an hour before the earliest post, the dormant profile or the sunset).',
      }),
    ),
  },
  {
    ...closed,
    description:
      'Where people find the organisation after X: a Bluesky list and starter pack of these accounts (and its own), and the "find us" page.',
  },
);

export const PlanSchema = Type.Object(
  {
    version: Type.Literal(1, { description: 'Format version of the plan: 1.' }),
    organisation: Organisation,
    networks: Networks,
    sunset: Sunset,
    posts: Type.Optional(Type.Array(Post, { description: 'Scheduled posts.' })),
    dormant_profile: Type.Optional(DormantProfile),
    mirror: Type.Optional(Mirror),
    crisis: Type.Optional(Crisis),
    audience: Type.Optional(Audience),
  },
  { ...closed, title: 'sunset exit plan', description: "An organisation's plan to leave X." },
);

export type PlanDocument = Static<typeof PlanSchema>;
export type PostDocument = Static<typeof Post>;
export type FeedDocument = Static<typeof CrisisFeed>;
export type ProfileDocument = Static<typeof ProfileSpec>;
export type BannerDocument = Static<typeof BannerSpec>;
export type AvatarDocument = Static<typeof AvatarSpec>;
export type ImageDocument = Static<typeof ImageRef>;
export type AudienceDocument = Static<typeof Audience>;
export type AudienceAccountDocument = Static<typeof AudienceAccount>;
