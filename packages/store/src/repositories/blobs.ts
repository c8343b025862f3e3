/** Image bytes by content hash. */
import type { Repositories } from '../types.ts';
import type { RepoContext } from './context.ts';

export function blobsRepository({ db }: RepoContext): Repositories['blobs'] {
  return {
    async put(blob) {
      await db
        .insertInto('blobs')
        .values({
          sha256: blob.sha256,
          media_type: blob.mediaType,
          size: blob.data.byteLength,
          data: blob.data,
        })
        .onConflict((oc) => oc.column('sha256').doNothing())
        .execute();
    },
    async get(sha256) {
      const row = await db.selectFrom('blobs').selectAll().where('sha256', '=', sha256).executeTakeFirst();
      return row
        ? { sha256: row.sha256, mediaType: row.media_type, data: new Uint8Array(row.data) }
        : undefined;
    },
  };
}
