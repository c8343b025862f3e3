/**
 * From resvg's PNG to a file the network takes: the PNG when it is within the byte limit,
 * otherwise JPEG at the highest quality that fits. libjpeg-turbo (mozjpeg off) with fixed
 * settings and no metadata, so the same pixels always give the same bytes.
 */
import { SunsetError } from '@sunset/core';
import sharp from 'sharp';

export interface Encoded {
  data: Uint8Array;
  mediaType: 'image/png' | 'image/jpeg';
}

const JPEG_QUALITIES = [92, 88, 84, 80, 75, 70, 65, 60, 55, 50, 45, 40] as const;

export class ImageTooLargeError extends SunsetError {
  constructor(message: string) {
    super('image-too-large', message);
  }
}

export async function encodeWithin(
  png: Uint8Array,
  maxBytes: number,
  options: { greyscale?: boolean; label: string },
): Promise<Encoded> {
  if (png.byteLength <= maxBytes) return { data: png, mediaType: 'image/png' };
  // A grey picture needs one channel, not four: often enough to come under the limit as PNG.
  if (options.greyscale) {
    const grey = await sharp(png)
      .flatten({ background: '#000000' })
      .toColourspace('b-w')
      .png({ compressionLevel: 9, adaptiveFiltering: true })
      .toBuffer();
    if (grey.byteLength <= maxBytes) return { data: new Uint8Array(grey), mediaType: 'image/png' };
  }
  let smallest = Infinity;
  for (const quality of JPEG_QUALITIES) {
    let pipeline = sharp(png).flatten({ background: '#000000' });
    if (options.greyscale) pipeline = pipeline.toColourspace('b-w');
    const jpeg = await pipeline
      .jpeg({ quality, mozjpeg: false, chromaSubsampling: quality >= 88 ? '4:4:4' : '4:2:0' })
      .toBuffer();
    if (jpeg.byteLength <= maxBytes) return { data: new Uint8Array(jpeg), mediaType: 'image/jpeg' };
    smallest = Math.min(smallest, jpeg.byteLength);
  }
  throw new ImageTooLargeError(
    `${options.label}: even as JPEG at quality ${JPEG_QUALITIES.at(-1)} it takes ${smallest} bytes, over the limit of ${maxBytes}`,
  );
}
