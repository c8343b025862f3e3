/**
 * The dormant avatar on a 400 × 400 board: either the account's own picture in greys with a flat
 * line across it (people still recognise the account, and see it has gone quiet), or, without a
 * picture, the flat-ECG mark on the plan's colour. Everything that matters stays inside the
 * inscribed circle, since every network crops avatars round.
 */
import { paletteFor } from './colour.ts';
import { ecgPath, grid, n, svgDocument, trace, vignette } from './svg.ts';

export const AVATAR_VIEW = { width: 400, height: 400 } as const;
const TRACE_Y = 200;

/** The mark alone, on the plan's colour. */
export function avatarMarkSvg(colour: string | undefined, size: { width: number; height: number }): string {
  const palette = paletteFor(colour);
  const { width, height } = AVATAR_VIEW;
  const body =
    `<rect width="${width}" height="${height}" fill="${palette.background}"/>` +
    grid(width, height, 20, 5, palette.grid) +
    vignette('avatar', width, height) +
    trace({
      id: 'avatar',
      path: ecgPath(width, TRACE_Y, 78, 34),
      colour: palette.trace,
      width,
      height,
      strokeWidth: 5,
      head: { x: 318, y: TRACE_Y },
    });
  return svgDocument(size, AVATAR_VIEW, body);
}

/**
 * The current picture, already greyscale and at the output size (PNG), dimmed, with a white flat
 * line: only neutral colours are drawn over it so that the result stays grey throughout.
 */
export function avatarFromPictureSvg(greyPng: Uint8Array, size: { width: number; height: number }): string {
  const { width, height } = AVATAR_VIEW;
  const href = `data:image/png;base64,${Buffer.from(greyPng).toString('base64')}`;
  const body =
    `<image x="0" y="0" width="${width}" height="${height}" preserveAspectRatio="xMidYMid slice" ` +
    `href="${href}" xlink:href="${href}"/>` +
    `<rect width="${width}" height="${height}" fill="#000000" fill-opacity="0.3"/>` +
    `<rect x="0" y="${n(TRACE_Y - 34)}" width="${width}" height="68" fill="#000000" fill-opacity="0.35"/>` +
    trace({
      id: 'avatar',
      path: ecgPath(width, TRACE_Y, 78, 22),
      colour: '#ffffff',
      width,
      height,
      strokeWidth: 4.5,
      head: { x: 318, y: TRACE_Y },
    });
  return svgDocument(size, AVATAR_VIEW, body);
}
