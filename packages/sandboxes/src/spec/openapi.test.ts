import { describe, expect, it } from 'vitest';
import {
  checkExchange,
  type Exchange,
  loadSpec,
  specMissingReason,
  specsDir,
  type SpecName,
} from './openapi.ts';

const x = loadSpec('x');
const mastodon = loadSpec('mastodon');

/** The test's name, followed by why it is skipped when the spec is absent. */
function named(spec: SpecName, name: string): string {
  const missing = specMissingReason(spec);
  return missing ? `${name} (${missing})` : name;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

describe('locating the specs', () => {
  it('looks beside the repository, in ../shared/specs', () => {
    expect(specsDir()).toMatch(/[/\\]shared[/\\]specs$/);
    expect(specMissingReason('x') === undefined).toBe(x !== undefined);
    expect(loadSpec('x')).toBe(x);
  });
});

describe('the X spec', () => {
  const createPost: Exchange = {
    method: 'POST',
    path: '/2/tweets',
    headers: { ...JSON_HEADERS, authorization: 'Bearer t' },
    body: { text: 'Bonjour' },
    status: 201,
    responseHeaders: { 'content-type': 'application/json; charset=utf-8' },
    responseBody: { data: { id: '1', text: 'Bonjour' } },
  };

  it.skipIf(!x)(named('x', 'accepts a conformant POST /2/tweets, compiling its validators once'), () => {
    if (!x) return;
    expect(x.openapi).toMatch(/^3\.0/);
    const first = performance.now();
    expect(checkExchange(x, createPost)).toEqual([]);
    const firstMs = performance.now() - first;
    const later = performance.now();
    for (let i = 0; i < 20; i++) checkExchange(x, createPost);
    const laterMs = (performance.now() - later) / 20;
    expect(laterMs).toBeLessThan(firstMs);
  });

  it.skipIf(!x)(named('x', 'reports a body or response that breaks the schemas'), () => {
    if (!x) return;
    expect(checkExchange(x, { ...createPost, body: { text: 42 } })).toEqual([
      'POST /2/tweets request body: /text must be string, not 42',
    ]);
    expect(checkExchange(x, { ...createPost, body: { text: 'Bonjour', txt: 'Bonjour' } })).toEqual([
      "POST /2/tweets request body: must not have the property 'txt'",
    ]);
    // CreatePostsResponseData requires both id and text.
    expect(checkExchange(x, { ...createPost, responseBody: { data: { text: 'Bonjour' } } })).toEqual([
      "POST /2/tweets response 201 body: /data must have required property 'id'",
    ]);
    expect(
      checkExchange(x, { ...createPost, responseBody: { data: { id: 'abc', text: 'Bonjour' } } }),
    ).toEqual(['POST /2/tweets response 201 body: /data/id must match pattern "^[0-9]{1,19}$", not "abc"']);
  });

  it.skipIf(!x)(named('x', 'takes only the body encodings X lists'), () => {
    if (!x) return;
    const form = { ...createPost, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    expect(checkExchange(x, form)).toEqual([
      'POST /2/tweets request content type application/x-www-form-urlencoded is not in the spec (it lists application/json)',
    ]);
    expect(checkExchange(x, { ...createPost, body: undefined })).toEqual([
      'POST /2/tweets request body is required',
    ]);
  });

  it.skipIf(!x)(named('x', 'checks a 403 problem against the error schema of its content type'), () => {
    if (!x) return;
    const forbidden: Exchange = {
      ...createPost,
      status: 403,
      responseHeaders: { 'content-type': 'application/problem+json' },
      responseBody: {
        title: 'Forbidden',
        detail: 'You are not permitted to create this Post.',
        type: 'https://api.x.com/2/problems/disallowed-resource',
        status: 403,
      },
    };
    expect(checkExchange(x, forbidden)).toEqual([]);
    // The spec's Problem union admits only X's own problem types, not RFC 7807's about:blank.
    const blank = {
      ...forbidden,
      responseBody: { title: 'Forbidden', detail: 'Nope', type: 'about:blank', status: 403 },
    };
    const [union, ...rest] = checkExchange(x, blank);
    expect(rest).toEqual([]);
    expect(union).toMatch(
      /^POST \/2\/tweets response 403 body: matches none of its 9 allowed shapes; closest are /,
    );
    expect(union).toContain('/type must be one of ["https://api.x.com/2/problems/');
    // Sent as application/json, a problem is checked against the other error schema: { code, message }.
    expect(checkExchange(x, { ...forbidden, responseHeaders: JSON_HEADERS })).toEqual([
      "POST /2/tweets response 403 body: must have required property 'code'",
      "POST /2/tweets response 403 body: must have required property 'message'",
    ]);
    expect(checkExchange(x, { ...forbidden, responseHeaders: { 'content-type': 'text/html' } })).toEqual([
      'POST /2/tweets response 403 content type text/html is not in the spec (it lists application/json, application/problem+json)',
    ]);
  });

  it.skipIf(!x)(named('x', 'checks GET /2/users/me, its comma-separated fields and its response'), () => {
    if (!x) return;
    const me: Exchange = {
      method: 'GET',
      path: '/2/users/me',
      query: { 'user.fields': 'created_at,description,profile_image_url' },
      status: 200,
      responseHeaders: JSON_HEADERS,
      responseBody: {
        data: {
          id: '2244994945',
          name: 'Sunset',
          username: 'sunset',
          created_at: '2013-12-14T04:35:55.000Z',
          description: 'Le compte se ferme.',
          profile_image_url: 'https://pbs.twimg.com/profile_images/1/a_normal.jpg',
        },
      },
    };
    // The literal /2/users/me is preferred over /2/users/{id}, whose id must be digits.
    expect(checkExchange(x, me)).toEqual([]);
    expect(
      checkExchange(x, {
        ...me,
        query: { 'user.fields': 'created_at,bio', max_results: '5' },
        responseBody: { data: { id: 2244994945, name: 'Sunset', username: 'sunset', created_at: 'hier' } },
      }),
    ).toEqual([
      'GET /2/users/me query: /user.fields/1 must be one of 24 values ("confirmed_email", "connection_status", "created_at", "description", …), not "bio"',
      'GET /2/users/me query parameter max_results is not in the spec',
      'GET /2/users/me response 200 body: /data/created_at must match format "date-time", not "hier"',
      'GET /2/users/me response 200 body: /data/id must be string, not 2244994945',
    ]);
  });

  it.skipIf(!x)(named('x', 'matches path templates and checks their parameters'), () => {
    if (!x) return;
    const post: Exchange = {
      method: 'GET',
      path: '/2/tweets/1460323737035677698',
      query: { expansions: 'author_id', 'post.fields': 'created_at,lang' },
      status: 200,
      responseBody: { data: { id: '1460323737035677698', text: 'Bonjour', author_id: '2244994945' } },
    };
    expect(checkExchange(x, post)).toEqual([]);
    expect(checkExchange(x, { ...post, path: '/2/tweets/abc' })).toEqual([
      'GET /2/tweets/abc path: /id must match pattern "^[0-9]{1,19}$", not "abc"',
    ]);
    expect(
      checkExchange(x, {
        method: 'DELETE',
        path: '/2/tweets/1',
        status: 200,
        responseBody: { data: { deleted: true } },
      }),
    ).toEqual([]);
    // X answers 400 to query parameters it does not know. This document calls the post fields
    // "post.fields" here, and "tweet.fields" (what twitter-api-v2 sends) on ten other endpoints.
    expect(checkExchange(x, { ...post, query: { 'tweet.fields': 'created_at' } })).toEqual([
      'GET /2/tweets/1460323737035677698 query parameter tweet.fields is not in the spec',
    ]);
  });

  it.skipIf(!x)(named('x', 'reports an endpoint or status the spec does not have'), () => {
    if (!x) return;
    expect(checkExchange(x, { method: 'GET', path: '/1.1/x.json', status: 200 })).toEqual([
      'GET /1.1/x.json is not in the X spec',
    ]);
    expect(checkExchange(x, { method: 'PUT', path: '/2/users/me', status: 200 })).toEqual([
      'PUT /2/users/me is not in the X spec',
    ]);
  });
});

describe('the Mastodon spec', () => {
  const account = {
    id: '109302',
    username: 'sunset',
    acct: 'sunset',
    display_name: 'Sunset',
    locked: false,
    bot: false,
    group: false,
    discoverable: true,
    indexable: true,
    created_at: '2022-11-07T00:00:00.000Z',
    note: '<p>Le compte se ferme.</p>',
    url: 'https://mastodon.example/@sunset',
    uri: 'https://mastodon.example/users/sunset',
    avatar: 'https://mastodon.example/avatars/original/missing.png',
    avatar_static: 'https://mastodon.example/avatars/original/missing.png',
    header: 'https://mastodon.example/headers/original/missing.png',
    header_static: 'https://mastodon.example/headers/original/missing.png',
    followers_count: 12,
    following_count: 3,
    statuses_count: 42,
    last_status_at: '2025-06-01',
    emojis: [],
    fields: [{ name: 'Site', value: 'https://example.org', verified_at: null }],
  };
  const status = {
    id: '113000000000000001',
    created_at: '2025-06-01T12:00:00.000Z',
    in_reply_to_id: null,
    in_reply_to_account_id: null,
    sensitive: false,
    spoiler_text: '',
    visibility: 'public',
    language: 'fr',
    uri: 'https://mastodon.example/users/sunset/statuses/113000000000000001',
    url: 'https://mastodon.example/@sunset/113000000000000001',
    replies_count: 0,
    reblogs_count: 0,
    favourites_count: 0,
    edited_at: null,
    favourited: false,
    reblogged: false,
    muted: false,
    bookmarked: false,
    pinned: false,
    content: '<p>Bonjour</p>',
    reblog: null,
    application: { name: 'Sunset', website: null },
    account,
    media_attachments: [],
    mentions: [],
    tags: [],
    emojis: [],
    card: null,
    poll: null,
  };
  const createStatus: Exchange = {
    method: 'POST',
    path: '/api/v1/statuses',
    headers: { ...JSON_HEADERS, 'idempotency-key': 'k1' },
    body: { status: 'Bonjour', visibility: 'public', language: 'fr' },
    status: 200,
    responseHeaders: JSON_HEADERS,
    responseBody: status,
  };
  const form = { 'content-type': 'application/x-www-form-urlencoded' };

  it.skipIf(!mastodon)(
    named('mastodon', 'accepts a conformant JSON POST /api/v1/statuses and its Status'),
    () => {
      if (!mastodon) return;
      expect(mastodon.openapi).toMatch(/^3\.1/);
      expect(checkExchange(mastodon, createStatus)).toEqual([]);
      expect(checkExchange(mastodon, { ...createStatus, body: { status: 42 } })).toEqual([
        'POST /api/v1/statuses request body: /status must be string, not 42',
      ]);
    },
  );

  it.skipIf(!mastodon)(named('mastodon', 'reads form-encoded statuses as Rails does'), () => {
    if (!mastodon) return;
    const withMedia = {
      status: 'Bonjour',
      'media_ids[]': ['101', '102'],
      sensitive: 'true',
      visibility: 'unlisted',
    };
    expect(checkExchange(mastodon, { ...createStatus, headers: form, body: withMedia })).toEqual([]);
    expect(
      checkExchange(mastodon, { ...createStatus, headers: form, body: 'status=Bonjour&media_ids[]=101' }),
    ).toEqual([]);
    const poll = { 'poll[options][]': ['oui', 'non'], 'poll[expires_in]': '3600', 'poll[multiple]': 'false' };
    expect(checkExchange(mastodon, { ...createStatus, headers: form, body: poll })).toEqual([]);
    expect(
      checkExchange(mastodon, {
        ...createStatus,
        headers: form,
        body: { ...poll, 'poll[expires_in]': 'soon' },
      }),
    ).toEqual(['POST /api/v1/statuses request body: /poll/expires_in must be integer, not "soon"']);
    const [visibility, ...rest] = checkExchange(mastodon, {
      ...createStatus,
      headers: form,
      body: { ...withMedia, visibility: 'everyone' },
    });
    expect(rest).toEqual([]);
    expect(visibility).toMatch(
      /^POST \/api\/v1\/statuses request body: matches none of its 3 allowed shapes; closest/,
    );
    expect(visibility).toContain(
      '/visibility must be one of ["public","unlisted","private","direct"], not "everyone"',
    );
  });

  it.skipIf(!mastodon)(named('mastodon', 'reports a Status missing what the spec requires'), () => {
    if (!mastodon) return;
    const { acct: _acct, ...withoutAcct } = account;
    expect(
      checkExchange(mastodon, {
        ...createStatus,
        responseBody: { ...status, created_at: 'yesterday', account: withoutAcct },
      }),
    ).toEqual([
      "POST /api/v1/statuses response 200 body: /account must have required property 'acct'",
      'POST /api/v1/statuses response 200 body: /created_at must match format "date-time", not "yesterday"',
    ]);
  });

  it.skipIf(!mastodon)(named('mastodon', 'checks a 422 error'), () => {
    if (!mastodon) return;
    const rejected: Exchange = {
      ...createStatus,
      status: 422,
      responseBody: { error: "Validation failed: Text can't be blank" },
    };
    expect(checkExchange(mastodon, rejected)).toEqual([]);
    expect(checkExchange(mastodon, { ...rejected, responseBody: { message: 'Text is blank' } })).toEqual([
      "POST /api/v1/statuses response 422 body: must have required property 'error'",
    ]);
    expect(checkExchange(mastodon, { ...rejected, status: 400 })).toEqual([
      'POST /api/v1/statuses response status 400 is not in the spec',
    ]);
  });

  it.skipIf(!mastodon)(named('mastodon', 'checks GET /api/v2/instance'), () => {
    if (!mastodon) return;
    const instance = {
      domain: 'mastodon.example',
      title: 'Mastodon Example',
      version: '4.4.0',
      source_url: 'https://github.com/mastodon/mastodon',
      description: 'A sandbox instance.',
      usage: { users: { active_month: 3 } },
      thumbnail: {
        url: 'https://mastodon.example/packs/media/images/preview.png',
        blurhash: null,
        versions: null,
      },
      icon: [{ src: 'https://mastodon.example/icon-48.png', size: '48x48' }],
      languages: ['fr', 'en'],
      configuration: {
        urls: { streaming: 'wss://mastodon.example', status: null, about: null, privacy_policy: null },
        accounts: { max_featured_tags: 10, max_pinned_statuses: 5 },
        statuses: { max_characters: 500, max_media_attachments: 4, characters_reserved_per_url: 23 },
        media_attachments: {
          supported_mime_types: ['image/jpeg', 'image/png', 'video/mp4'],
          description_limit: 1500,
          image_size_limit: 16777216,
          image_matrix_limit: 33177600,
          video_size_limit: 103809024,
          video_frame_rate_limit: 120,
          video_matrix_limit: 8294400,
        },
        polls: {
          max_options: 4,
          max_characters_per_option: 50,
          min_expiration: 300,
          max_expiration: 2629746,
        },
        translation: { enabled: false },
      },
      registrations: { enabled: false, approval_required: false, message: null },
      api_versions: { mastodon: 6 },
      contact: { email: 'admin@mastodon.example', account },
      rules: [{ id: '1', text: 'Be kind.', hint: '' }],
    };
    const get: Exchange = { method: 'GET', path: '/api/v2/instance', status: 200, responseBody: instance };
    expect(checkExchange(mastodon, get)).toEqual([]);
    const { api_versions: _versions, ...older } = instance;
    expect(checkExchange(mastodon, { ...get, responseBody: older })).toEqual([
      "GET /api/v2/instance response 200 body: must have required property 'api_versions'",
    ]);
  });

  it.skipIf(!mastodon)(named('mastodon', 'checks a multipart POST /api/v2/media with its file'), () => {
    if (!mastodon) return;
    const upload: Exchange = {
      method: 'POST',
      path: '/api/v2/media',
      headers: { 'content-type': 'multipart/form-data; boundary=----sunset' },
      body: { file: { filename: 'photo.png', mimetype: 'image/png', size: 2048 }, description: 'A sunset' },
      status: 202,
      responseHeaders: JSON_HEADERS,
      responseBody: {
        id: '22345792',
        type: 'image',
        url: null,
        preview_url: 'https://mastodon.example/system/media_attachments/files/small/photo.png',
        remote_url: null,
        meta: { original: { width: 640, height: 480 } },
        description: 'A sunset',
        blurhash: 'UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}',
      },
    };
    expect(checkExchange(mastodon, upload)).toEqual([]);
    expect(checkExchange(mastodon, { ...upload, body: { description: 'A sunset' } })).toEqual([
      "POST /api/v2/media request body: must have required property 'file'",
    ]);
    expect(checkExchange(mastodon, { ...upload, responseBody: { id: '22345792', type: 'picture' } })).toEqual(
      [
        expect.stringMatching(
          /^POST \/api\/v2\/media response 202 body: \/type must be one of \[.*\], not "picture"$/,
        ),
      ],
    );
    // Mastodon reads multipart wherever its document lists JSON; a file stands for a string.
    const avatar: Exchange = {
      method: 'PATCH',
      path: '/api/v1/accounts/update_credentials',
      headers: upload.headers,
      body: {
        avatar: { filename: 'a.png', mimetype: 'image/png', size: 10 },
        display_name: 'Sunset',
        locked: 'false',
      },
      status: 200,
    };
    expect(checkExchange(mastodon, avatar)).toEqual([]);
  });

  it.skipIf(!mastodon)(named('mastodon', 'reports an endpoint the spec does not have'), () => {
    if (!mastodon) return;
    expect(checkExchange(mastodon, { method: 'GET', path: '/api/v1/nope', status: 404 })).toEqual([
      'GET /api/v1/nope is not in the Mastodon spec',
    ]);
  });
});
