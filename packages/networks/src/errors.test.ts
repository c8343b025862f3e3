import { describe, expect, it } from 'vitest';
import {
  AuthError,
  InvalidPostError,
  isNetworkError,
  RateLimitedError,
  TransientError,
  UnknownOutcomeError,
} from './errors.ts';

describe('the network error taxonomy', () => {
  it('says what may be retried', () => {
    const details = { network: 'x' as const };
    expect(new RateLimitedError('429', details).retryable).toBe(true);
    expect(new TransientError('503', details).retryable).toBe(true);
    expect(new AuthError('401', details).retryable).toBe(false);
    expect(new InvalidPostError('too long', details).retryable).toBe(false);
    // An unknown outcome must be reconciled first, never blindly retried.
    expect(new UnknownOutcomeError('reset', details).retryable).toBe(false);
  });

  it('gives the wait until a rate limit resets', () => {
    const err = new RateLimitedError('429', { network: 'mastodon', resetAt: new Date(10_000) });
    expect(err.retryAfterMs(4_000)).toBe(6_000);
    expect(err.retryAfterMs(20_000)).toBe(0);
    expect(new TransientError('x', { network: 'x' }).retryAfterMs()).toBeUndefined();
  });

  it('carries a stable code, the network and the remote message', () => {
    const err = new InvalidPostError('refused', {
      network: 'bluesky',
      status: 400,
      remoteMessage: 'Record/text too long',
    });
    expect(err.code).toBe('network.InvalidPostError');
    expect(err.name).toBe('InvalidPostError');
    expect(err.kind).toBe('invalid-post');
    expect(err.network).toBe('bluesky');
    expect(err.remoteMessage).toBe('Record/text too long');
    expect(isNetworkError(err)).toBe(true);
    expect(isNetworkError(new Error('x'))).toBe(false);
  });
});
