import type { ClientRequest, IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ApiPartialResponseError, ApiRequestError, ApiResponseError } from 'twitter-api-v2';
import {
  CreditsExhaustedError,
  DailyCapError,
  DuplicateError,
  ForbiddenError,
  InvalidPostError,
  NotFoundError,
  RateLimitedError,
  TransientError,
  UnknownOutcomeError,
} from '../errors.ts';
import { mapXError, requestMayHaveArrived, xRemoteMessage } from './map-error.ts';

// The connector and sandbox tests cover these classes from real answers; these cover the shapes
// the sandbox does not produce (v1.1 codes on v2, 24-hour caps, partial answers).
const post = { action: 'publishing a post', creates: true };
const read = { action: 'reading the account', creates: false };

function answer(code: number, data: unknown, rateLimit?: ApiResponseError['rateLimit']): ApiResponseError {
  return new ApiResponseError(`Request failed with code ${code}`, {
    code,
    // X sends bodies the library's type does not describe (plain text, v1.1 codes): as received.
    data: data as ApiResponseError['data'],
    headers: {},
    request: {} as ClientRequest,
    response: {} as IncomingMessage,
    ...(rateLimit ? { rateLimit } : {}),
  });
}

function dropped(sent: boolean, code?: string): ApiRequestError {
  const error = Object.assign(new Error(code ?? 'socket hang up'), code ? { code } : {});
  return new ApiRequestError('Request failed.', {
    request: { writableFinished: sent } as ClientRequest,
    error,
  } as unknown as ConstructorParameters<typeof ApiRequestError>[1]);
}

describe('mapXError', () => {
  it('makes a 402 a CreditsExhaustedError that no backoff retries', () => {
    const err = mapXError(
      answer(402, {
        title: 'CreditsDepleted',
        detail:
          'Your enrolled account [1480506376447315969] does not have any credits to fulfill this request.',
        type: 'https://api.x.com/2/problems/credits',
      }),
      post,
    );
    expect(err).toBeInstanceOf(CreditsExhaustedError);
    expect((err as CreditsExhaustedError).retryable).toBe(false);
    expect((err as CreditsExhaustedError).message).toMatch(
      /^X credits exhausted: buy credits in X's developer console/,
    );
  });

  it("tells the daily post cap from a rate limit by status and title, with X's reset", () => {
    const capped = mapXError(
      answer(
        429,
        { title: 'UsageCapExceeded', detail: 'Usage cap exceeded: Daily post cap', type: 'about:blank' },
        { limit: 100, remaining: 0, reset: 1_900_000_000 },
      ),
      post,
    );
    expect(capped).toBeInstanceOf(DailyCapError);
    expect((capped as DailyCapError).resetAt?.getTime()).toBe(1_900_000_000_000);
    const v1 = mapXError(
      answer(403, { errors: [{ code: 185, message: 'User is over daily status update limit.' }] }),
      post,
    );
    expect(v1).toBeInstanceOf(DailyCapError);
    expect(mapXError(answer(429, { title: 'Too Many Requests' }), post)).toBeInstanceOf(RateLimitedError);
  });

  it('takes the reset of an exhausted 24-hour cap over the 15-minute window', () => {
    const err = mapXError(
      answer(
        429,
        { title: 'Too Many Requests' },
        {
          limit: 100,
          remaining: 50,
          reset: 1_900_000_000,
          userDay: { limit: 17, remaining: 0, reset: 1_900_050_000 },
        },
      ),
      post,
    );
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).resetAt?.getTime()).toBe(1_900_050_000_000);
  });

  it('sorts 403s: duplicate, access level, reply target, anything else', () => {
    expect(
      mapXError(answer(403, { errors: [{ code: 187, message: 'Status is a duplicate.' }] }), post),
    ).toBeInstanceOf(DuplicateError);
    expect(
      mapXError(answer(403, { errors: [{ code: 453, message: 'You currently have access…' }] }), read),
    ).toBeInstanceOf(ForbiddenError);
    const notPermitted = {
      title: 'Forbidden',
      type: 'about:blank',
      status: 403,
      detail: 'You are not permitted to perform this action.',
    };
    expect(mapXError(answer(403, notPermitted), post)).toBeInstanceOf(ForbiddenError);
    const other = mapXError(answer(403, { detail: 'Your account is temporarily locked.' }), post);
    expect(other).toBeInstanceOf(InvalidPostError);
    expect((other as InvalidPostError).remoteMessage).toBe('Your account is temporarily locked.');
  });

  it('maps the other statuses', () => {
    expect(mapXError(answer(404, { errors: [{ code: 34, message: 'Sorry' }] }), read)).toBeInstanceOf(
      NotFoundError,
    );
    expect(mapXError(answer(408, undefined), post)).toBeInstanceOf(TransientError);
    expect(mapXError(answer(502, '<html>Bad gateway</html>'), post)).toBeInstanceOf(TransientError);
    expect(mapXError(answer(413, undefined), post)).toBeInstanceOf(InvalidPostError);
  });

  it('decides from whether the request can have arrived, for posts only', () => {
    expect(mapXError(dropped(true), post)).toBeInstanceOf(UnknownOutcomeError);
    expect(mapXError(dropped(true), read)).toBeInstanceOf(TransientError);
    expect(mapXError(dropped(false), post)).toBeInstanceOf(TransientError);
    // A refused connection never carried the request, whatever the request object says.
    expect(mapXError(dropped(true, 'ECONNREFUSED'), post)).toBeInstanceOf(TransientError);
    expect(requestMayHaveArrived(undefined, undefined)).toBe(false);
  });

  it('treats an answer that broke off as unknown for posts', () => {
    const partial = new ApiPartialResponseError('partial', {
      request: {} as ClientRequest,
      response: { statusCode: 201 } as IncomingMessage,
      responseError: new Error('aborted'),
      rawContent: '{"data":{"id":"1',
    });
    expect(mapXError(partial, post)).toBeInstanceOf(UnknownOutcomeError);
    expect(mapXError(partial, read)).toBeInstanceOf(TransientError);
  });

  it('leaves other errors alone, except a failed media processing', () => {
    const bug = new TypeError('x is undefined');
    expect(mapXError(bug, post)).toBe(bug);
    expect(mapXError(new Error('Media processing failed: InvalidMedia'), post)).toBeInstanceOf(
      InvalidPostError,
    );
  });

  it("reads X's words from v2 problems and v1.1 errors", () => {
    expect(
      xRemoteMessage({
        errors: [{ parameters: { 'media.media_ids': ['1'] }, message: 'Your media IDs are invalid.' }],
        detail: 'One or more parameters to your request was invalid.',
      }),
    ).toBe('Your media IDs are invalid. — One or more parameters to your request was invalid.');
    expect(xRemoteMessage({ errors: [{ code: 88, message: 'Rate limit exceeded' }] })).toBe(
      'Rate limit exceeded',
    );
    expect(xRemoteMessage(undefined)).toBeUndefined();
  });
});
