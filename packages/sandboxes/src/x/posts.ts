/** Posting and reading posts: X's text rules, duplicates, replies, attached media, timelines. */
import type { FastifyRequest } from 'fastify';
import { xWeightedLength } from '@sunset/text';
import { preciseNow, wallNow } from '../clock.ts';
import type { Account, Answer, MediaRecord, XSandboxPost } from './model.ts';
import { asRecord, codePoints, fieldList, invalidRequest, POST_FIELDS, problem } from './protocol.ts';
import type { XState } from './state.ts';

// X's own words, as its API answers them.
const DUPLICATE_DETAIL = 'You are not allowed to create a Tweet with duplicate content.';
const TOO_LONG_DETAIL =
  'Your Tweet text is too long. For more information on how X determines text length see https://github.com/twitter/twitter-text.';
const REPLY_MISSING_DETAIL = 'You attempted to reply to a Tweet that is deleted or not visible to you.';
const MAX_TWEET_WEIGHT = 280;

function htmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function createTweet(state: XState, req: FastifyRequest, account: Account): Answer {
  const body = asRecord(req.body);
  if (!body) return invalidRequest('The request body is not a JSON object.');
  const text = body.text ?? '';
  if (typeof text !== 'string') return invalidRequest('`text` must be a string.', { text: [String(text)] });
  const reply = body.reply === undefined ? undefined : asRecord(body.reply);
  const replyTo = reply?.in_reply_to_tweet_id;
  if (body.reply !== undefined && (typeof replyTo !== 'string' || !/^[0-9]{1,19}$/.test(replyTo))) {
    return invalidRequest('`reply.in_reply_to_tweet_id` is not a valid id.', {
      'reply.in_reply_to_tweet_id': [String(replyTo)],
    });
  }
  const mediaIds = asRecord(body.media)?.media_ids;
  if (
    body.media !== undefined &&
    (!Array.isArray(mediaIds) ||
      mediaIds.length < 1 ||
      mediaIds.length > 4 ||
      !mediaIds.every((id) => typeof id === 'string'))
  ) {
    return invalidRequest('`media.media_ids` must list 1 to 4 media ids.', {
      'media.media_ids': Array.isArray(mediaIds) ? mediaIds.map(String) : [],
    });
  }
  const ids = (mediaIds ?? []) as string[];
  if (text.trim() === '' && ids.length === 0) {
    return invalidRequest('Your Tweet text is empty.', { text: [text] });
  }
  if (xWeightedLength(text) > MAX_TWEET_WEIGHT) return problem(400, 'Bad Request', TOO_LONG_DETAIL);

  const media: MediaRecord[] = [];
  for (const id of ids) {
    const record = state.media.get(id);
    if (!record || record.accountId !== account.id || record.state !== 'succeeded') {
      return invalidRequest('Your media IDs are invalid.', { 'media.media_ids': ids });
    }
    media.push(record);
  }
  const parent = replyTo === undefined ? undefined : state.posts.find((p) => p.id === replyTo);
  if (replyTo !== undefined && !parent) return problem(403, 'Forbidden', REPLY_MISSING_DETAIL);
  const textKey = `${account.id}\n${text}`;
  const twin = state.byText.get(textKey);
  // A post taken out of `posts` (by a test) no longer counts.
  if (twin && state.posts.includes(twin)) return problem(403, 'Forbidden', DUPLICATE_DETAIL);

  const id = state.nextId();
  const shortened = state.shorten(text);
  let returned = htmlEscape(shortened.text);
  const urls = shortened.urls;
  const firstMedia = media[0];
  if (firstMedia) {
    // X appends one link to the attached photos at the end of the text.
    const tco = state.tco();
    const prefix = returned === '' ? '' : `${returned} `;
    const start = codePoints(prefix);
    returned = `${prefix}${tco}`;
    urls.push({
      start,
      end: start + codePoints(tco),
      url: tco,
      expandedUrl: `https://x.com/${account.username}/status/${id}/photo/1`,
      displayUrl: `pic.x.com/${tco.slice(13)}`,
      mediaKey: firstMedia.mediaKey,
    });
  }
  const createdAtMs = preciseNow();
  const post: XSandboxPost = {
    id,
    accountId: account.id,
    username: account.username,
    text,
    returnedText: returned,
    createdAt: new Date(wallNow()),
    createdAtMs,
    inReplyToId: parent?.id,
    conversationId: parent?.conversationId ?? id,
    mediaIds: ids,
    media: media.map((m) => ({
      id: m.id,
      mediaType: m.mediaType,
      altText: m.altText,
      bytes: m.totalBytes,
    })),
    urls,
  };
  state.posts.push(post);
  state.byText.set(textKey, post);
  return { status: 201, body: { data: { id, text: returned, edit_history_tweet_ids: [id] } } };
}

function tweetV2(state: XState, post: XSandboxPost, fields: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: post.id,
    text: post.returnedText,
    edit_history_tweet_ids: [post.id],
  };
  if (fields.has('created_at')) out.created_at = post.createdAt.toISOString();
  if (fields.has('author_id')) out.author_id = post.accountId;
  if (fields.has('conversation_id')) out.conversation_id = post.conversationId;
  if (fields.has('in_reply_to_user_id') && post.inReplyToId) {
    const parent = state.posts.find((p) => p.id === post.inReplyToId);
    if (parent) out.in_reply_to_user_id = parent.accountId;
  }
  if (fields.has('referenced_tweets') && post.inReplyToId) {
    out.referenced_tweets = [{ type: 'replied_to', id: post.inReplyToId }];
  }
  if (fields.has('attachments') && post.mediaIds.length > 0) {
    out.attachments = { media_keys: post.mediaIds.map((id) => state.media.get(id)?.mediaKey ?? `3_${id}`) };
  }
  if (fields.has('entities') && post.urls.length > 0) {
    out.entities = {
      urls: post.urls.map((u) => ({
        start: u.start,
        end: u.end,
        url: u.url,
        expanded_url: u.expandedUrl,
        display_url: u.displayUrl,
        ...(u.mediaKey ? { media_key: u.mediaKey } : {}),
      })),
    };
  }
  return out;
}

export function getTweet(state: XState, req: FastifyRequest): Answer {
  const id = asRecord(req.params)?.id;
  if (typeof id !== 'string' || !/^[0-9]{1,19}$/.test(id)) {
    return invalidRequest(`The \`id\` query parameter value [${String(id)}] is not valid`, {
      id: [String(id)],
    });
  }
  const post = state.posts.find((p) => p.id === id);
  if (!post) {
    // X answers 200 with the error in the body for ids it cannot find.
    return {
      status: 200,
      body: {
        errors: [
          {
            value: id,
            detail: `Could not find tweet with id: [${id}].`,
            title: 'Not Found Error',
            resource_type: 'tweet',
            parameter: 'id',
            resource_id: id,
            type: 'https://api.x.com/2/problems/resource-not-found',
          },
        ],
      },
    };
  }
  return { status: 200, body: { data: tweetV2(state, post, fieldList(req.query, ...POST_FIELDS)) } };
}

export function userTweets(state: XState, req: FastifyRequest): Answer {
  if (state.timelineApi === 'forbidden') {
    return {
      status: 403,
      body: {
        client_id: '0',
        detail:
          'When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project. You can create a project via the developer portal.',
        registration_url: 'https://developer.x.com/en/portal/product',
        title: 'Client Forbidden',
        required_enrollment: 'Appropriate Level of API Access',
        reason: 'client-not-enrolled',
        type: 'https://api.x.com/2/problems/client-forbidden',
      },
      headers: { 'content-type': 'application/problem+json' },
    };
  }
  const userId = asRecord(req.params)?.id;
  const query = asRecord(req.query) ?? {};
  const max = query.max_results === undefined ? 10 : Number(query.max_results);
  if (!Number.isInteger(max) || max < 5 || max > 100) {
    return invalidRequest(
      `The \`max_results\` query parameter value [${String(query.max_results)}] is not between 5 and 100`,
      { max_results: [String(query.max_results)] },
    );
  }
  let since: number | undefined;
  if (query.start_time !== undefined) {
    since = Date.parse(String(query.start_time));
    if (!Number.isFinite(since)) {
      return invalidRequest(`Invalid 'start_time':'${String(query.start_time)}'.`, {
        start_time: [String(query.start_time)],
      });
    }
  }
  const sinceId = typeof query.since_id === 'string' ? BigInt(query.since_id) : undefined;
  const offset = typeof query.pagination_token === 'string' ? Number.parseInt(query.pagination_token, 36) : 0;
  const all = state.posts
    .filter((p) => p.accountId === userId)
    .filter((p) => since === undefined || p.createdAt.getTime() >= since)
    .filter((p) => sinceId === undefined || BigInt(p.id) > sinceId)
    .reverse();
  const page = all.slice(offset, offset + max);
  const fields = fieldList(req.query, ...POST_FIELDS);
  if (page.length === 0) return { status: 200, body: { meta: { result_count: 0 } } };
  const next = offset + max < all.length ? (offset + max).toString(36) : undefined;
  return {
    status: 200,
    body: {
      data: page.map((p) => tweetV2(state, p, fields)),
      meta: {
        result_count: page.length,
        newest_id: page[0]?.id,
        oldest_id: page.at(-1)?.id,
        ...(next ? { next_token: next } : {}),
      },
    },
  };
}
