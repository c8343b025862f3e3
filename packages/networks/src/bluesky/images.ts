/**
 * Images made to fit Bluesky's blob limits: anything over the limit is re-encoded as JPEG,
 * smaller and smaller, until it fits. Images already within the limit are sent byte for byte
 * (so a restored avatar is the very same blob).
 */
import type SharpLib from 'sharp';

let sharpLoaded: Promise<typeof SharpLib> | undefined;
/** sharp (libvips, about 8 MB of RSS at import) is loaded by the first image: most posts carry none. */
const loadSharp = (): Promise<typeof SharpLib> => (sharpLoaded ??= import('sharp').then((m) => m.default));

export interface FittedImage {
  data: Uint8Array;
  mediaType: string;
  /** Pixel size as displayed (EXIF orientation applied), when the image could be read. */
  width?: number;
  height?: number;
}

/** Longest side Bluesky keeps; larger images are scaled down by its own app as well. */
const MAX_SIDE = 2000;
const QUALITIES = [85, 75, 65];

export class ImageUnreadableError extends Error {}

async function dimensions(data: Uint8Array): Promise<{ width: number; height: number } | undefined> {
  try {
    const sharp = await loadSharp();
    const meta = await sharp(data).metadata();
    return { width: meta.autoOrient.width, height: meta.autoOrient.height };
  } catch {
    return undefined;
  }
}

/**
 * Returns `data` unchanged when it fits in `maxBytes` (and `alwaysJpeg` is off), else a JPEG
 * under `maxBytes`: first at full size (up to 2000 px) at decreasing quality, then scaled down
 * by a quarter at a time.
 */
export async function fitImage(
  data: Uint8Array,
  mediaType: string,
  maxBytes: number,
  options: { alwaysJpeg?: boolean } = {},
): Promise<FittedImage> {
  if (!options.alwaysJpeg && data.byteLength <= maxBytes) {
    return { data, mediaType, ...(await dimensions(data)) };
  }
  const size = await dimensions(data);
  if (!size) throw new ImageUnreadableError('the image cannot be read');
  const sharp = await loadSharp();
  let side = Math.min(MAX_SIDE, Math.max(size.width, size.height));
  for (let round = 0; round < 8 && side >= 64; round += 1) {
    for (const quality of QUALITIES) {
      const out = await sharp(data)
        .autoOrient()
        .resize({ width: side, height: side, fit: 'inside', withoutEnlargement: true })
        // JPEG has no transparency: what was transparent becomes white, as on a page.
        .flatten({ background: '#ffffff' })
        .jpeg({ quality, mozjpeg: true })
        .toBuffer({ resolveWithObject: true });
      if (out.data.byteLength <= maxBytes) {
        return {
          data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength),
          mediaType: 'image/jpeg',
          width: out.info.width,
          height: out.info.height,
        };
      }
    }
    side = Math.floor(side * 0.75);
  }
  throw new ImageUnreadableError(`the image cannot be made smaller than ${maxBytes} bytes`);
}
