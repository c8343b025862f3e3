import { describe, expect, it } from 'vitest';
import { remoteRefOf } from './remote-ref.ts';

describe("a landed part's remote ref read from the store", () => {
  it('passes as written, and is undefined when none was kept', () => {
    const remoteRef = {
      remoteId: 'at://did:plc:a/app.bsky.feed.post/1',
      url: 'https://bsky.app/profile/a/post/1',
      bluesky: { uri: 'at://did:plc:a/app.bsky.feed.post/1', cid: 'c1', root: { uri: 'at://r', cid: 'c0' } },
    };
    expect(remoteRefOf('d1', { part: 0, remoteRef })).toBe(remoteRef);
    expect(remoteRefOf('d1', { part: 0, remoteRef: undefined })).toBeUndefined();
  });

  it('is refused with the delivery id, the part and the field that does not match', () => {
    expect(() => remoteRefOf('d1', { part: 2, remoteRef: { remoteId: 42, url: 'u' } })).toThrow(
      /delivery d1 part 2: remoteRef\.remoteId is not as the engine writes it/,
    );
    expect(() =>
      remoteRefOf('d1', { part: 0, remoteRef: { remoteId: '1', url: 'u', bluesky: { uri: 'x', cid: 'c' } } }),
    ).toThrow(/delivery d1 part 0: remoteRef\.bluesky\.root/);
  });
});
