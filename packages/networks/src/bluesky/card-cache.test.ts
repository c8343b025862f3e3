import { describe, expect, it } from 'vitest';
import { CardCache, cardKey, type CardOutcome } from './card-cache.ts';

const card = (uri: string, bytes = 0): CardOutcome => ({
  ok: true,
  card: { uri, title: 'Crue', description: '' },
  ...(bytes > 0 ? { thumb: { data: new Uint8Array(bytes), mediaType: 'image/jpeg' } } : {}),
});

describe('CardCache', () => {
  it('reads a page once for everyone who asks while it is read and until its time is up', async () => {
    let now = 0;
    const cache = new CardCache({ ttlMs: 1_000, now: () => now });
    let reads = 0;
    const read = async () => {
      reads += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return card('https://a.test/');
    };
    const first = await Promise.all([1, 2, 3].map(() => cache.get('a', read)));
    expect(reads).toBe(1);
    expect(first[1]).toBe(first[0]);
    now = 999;
    await cache.get('a', read);
    expect(reads).toBe(1);
    now = 1_000;
    await cache.get('a', read);
    expect(reads).toBe(2);
  });

  it('keeps a failure as long as a card, and a read that throws is a failure', async () => {
    const cache = new CardCache();
    let reads = 0;
    const read = () => {
      reads += 1;
      return Promise.reject(new Error('getaddrinfo ENOTFOUND'));
    };
    const outcome = await cache.get('a', read);
    expect(outcome).toMatchObject({ ok: false });
    expect((outcome as { error: Error }).error.message).toBe('getaddrinfo ENOTFOUND');
    await cache.get('a', read);
    expect(reads).toBe(1);
  });

  it('keeps at most so many outcomes and so many thumbnail bytes, dropping the oldest', async () => {
    const cache = new CardCache({ maxEntries: 2, maxBytes: 100 });
    let reads = 0;
    const reader = (bytes: number) => async () => {
      reads += 1;
      return card('https://a.test/', bytes);
    };
    await cache.get('a', reader(10));
    await cache.get('b', reader(10));
    await cache.get('c', reader(10));
    expect(cache.size).toBe(2);
    await cache.get('a', reader(10));
    expect(reads).toBe(4);
    await cache.get('big', reader(95));
    await new Promise((resolve) => setImmediate(resolve));
    expect(cache.size).toBe(1);
    await cache.get('big', reader(95));
    expect(reads).toBe(5);
  });

  it('stops only the waiting of the caller whose signal aborts', async () => {
    const cache = new CardCache();
    let finish: (outcome: CardOutcome) => void = () => undefined;
    const read = () => new Promise<CardOutcome>((resolve) => (finish = resolve));
    const controller = new AbortController();
    const aborted = cache.get('a', read, controller.signal);
    const other = cache.get('a', read);
    controller.abort(new Error('the job stopped'));
    await expect(aborted).rejects.toThrow('the job stopped');
    finish(card('https://a.test/'));
    expect(await other).toMatchObject({ ok: true });
  });

  it('keys a page by its URL and the allow-list it is read under', () => {
    expect(cardKey('https://a.test/', ['10.0.0.0/8', '127.0.0.1:80'])).toBe(
      cardKey('https://a.test/', ['127.0.0.1:80', '10.0.0.0/8']),
    );
    expect(cardKey('https://a.test/', [])).not.toBe(cardKey('https://a.test/', ['127.0.0.1:80']));
    expect(cardKey('https://a.test/', undefined)).toBe(cardKey('https://a.test/', []));
  });
});
