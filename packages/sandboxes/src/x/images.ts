/**
 * Just enough image handling for the sandbox and the tests: recognise the formats X accepts
 * from their first bytes (X refuses anything else whatever the declared type), and encode small
 * PNGs so that tests and the sandbox's default avatar need no image library or fixture files.
 */
import { crc32, deflateSync } from 'node:zlib';

export interface SniffedImage {
  mediaType: 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp';
  width?: number;
  height?: number;
}

const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

function startsWith(bytes: Uint8Array, prefix: ArrayLike<number>, offset = 0): boolean {
  if (bytes.length < offset + prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[offset + i] !== prefix[i]) return false;
  return true;
}

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

/** The image format from the magic bytes, with the size where the header gives it cheaply. */
export function sniffImage(bytes: Uint8Array): SniffedImage | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (startsWith(bytes, PNG_SIGNATURE)) {
    // IHDR is always the first chunk: width and height are its first two big-endian words.
    return bytes.length >= 24
      ? { mediaType: 'image/png', width: view.getUint32(16), height: view.getUint32(20) }
      : { mediaType: 'image/png' };
  }
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return { mediaType: 'image/jpeg' };
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a'))) {
    return bytes.length >= 10
      ? { mediaType: 'image/gif', width: view.getUint16(6, true), height: view.getUint16(8, true) }
      : { mediaType: 'image/gif' };
  }
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8))
    return { mediaType: 'image/webp' };
  return undefined;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/**
 * A truecolour PNG of one colour, with a seed mixed into the first pixel so that two images of
 * the same size still differ byte for byte (tests tell the attached images apart by content).
 */
export function encodePng(width: number, height: number, rgb: [number, number, number], seed = 0): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: truecolour
  const rowLength = 1 + width * 3;
  const raw = Buffer.alloc(rowLength * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw.set(rgb, y * rowLength + 1 + x * 3);
  }
  raw[1] = seed & 0xff;
  return Buffer.concat([
    Buffer.from(PNG_SIGNATURE),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}
