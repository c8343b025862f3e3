/**
 * The dormant banner, drawn on a 1500 × 500 board (every network's banner is 3:1) and rendered at
 * the network's size: monitor-dark background, grid, a last small heartbeat going flat, and the
 * caption (organisation, what the account has become, where to find it now).
 */
import { paletteFor } from './colour.ts';
import { ecgPath, grid, svgDocument, textLines, trace, vignette } from './svg.ts';
import { fitBlocks, type Box, type TextLayout } from './text-layout.ts';

export const BANNER_VIEW = { width: 1500, height: 500 } as const;

/**
 * Text keeps to a column right of x = 360: X and Bluesky lay the avatar over the banner's
 * bottom-left corner, where lines would be hidden.
 */
export const BANNER_TEXT_COLUMN = { left: 360, right: 1410 } as const;
const NAME_BOX: Box = { x: 360, y: 40, width: 1050, height: 100 };
const CAPTION_BOX: Box = { x: 360, y: 228, width: 1050, height: 232 };
const TRACE_Y = 182;

export interface BannerContent {
  organisationName: string;
  caption?: string;
  whereToFind?: string;
  colour?: string;
}

export interface BannerLayout {
  name: TextLayout;
  caption: TextLayout;
}

export function layoutBanner(content: BannerContent): BannerLayout {
  return {
    name: fitBlocks([{ text: content.organisationName, weight: 'bold', size: 46, maxLines: 2 }], NAME_BOX, 0),
    caption: fitBlocks(
      [
        { text: content.caption ?? '', weight: 'bold', size: 74, maxLines: 4 },
        {
          text: content.whereToFind ?? '',
          weight: 'regular',
          size: 34,
          maxLines: 2,
          // Where to find the account is the point of the banner: it stays readable.
          minScale: 0.7,
          opacity: 0.85,
        },
      ],
      CAPTION_BOX,
      22,
    ),
  };
}

export function bannerSvg(content: BannerContent, size: { width: number; height: number }): string {
  const palette = paletteFor(content.colour);
  const layout = layoutBanner(content);
  const { width, height } = BANNER_VIEW;
  const body =
    `<rect width="${width}" height="${height}" fill="${palette.background}"/>` +
    grid(width, height, 25, 5, palette.grid) +
    vignette('banner', width, height) +
    trace({
      id: 'banner',
      path: ecgPath(width, TRACE_Y, 170, 46),
      colour: palette.trace,
      width,
      height,
      strokeWidth: 3.5,
      head: { x: 1330, y: TRACE_Y },
    }) +
    textLines(layout.name.lines, palette.text) +
    textLines(layout.caption.lines, palette.text);
  return svgDocument(size, BANNER_VIEW, body);
}
