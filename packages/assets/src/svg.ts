/** Pieces shared by the banner and the avatar drawings (SVG source text, rendered by resvg). */
import { FONT_FAMILY } from './font.ts';
import type { LaidOutLine } from './text-layout.ts';

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** Rounded to 0.01 unit, so that the SVG text (and so the bytes) does not wobble with float noise. */
export function n(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/** A monitor's squared paper: faint minor lines, stronger major ones. */
export function grid(
  width: number,
  height: number,
  step: number,
  majorEvery: number,
  colour: string,
): string {
  const minor: string[] = [];
  const major: string[] = [];
  for (let i = 1; i * step < width; i++)
    (i % majorEvery ? minor : major).push(`M${n(i * step)} 0V${n(height)}`);
  for (let i = 1; i * step < height; i++)
    (i % majorEvery ? minor : major).push(`M0 ${n(i * step)}H${n(width)}`);
  return (
    `<path d="${minor.join('')}" stroke="${colour}" stroke-opacity="0.06" stroke-width="1" fill="none"/>` +
    `<path d="${major.join('')}" stroke="${colour}" stroke-opacity="0.13" stroke-width="1.5" fill="none"/>`
  );
}

/**
 * One last, small heartbeat (P wave, a short QRS, T wave) starting at `blipX`, then nothing: the
 * trace runs flat to the right edge. `amplitude` is the height of the R peak.
 */
export function ecgPath(width: number, baseline: number, blipX: number, amplitude: number): string {
  const a = amplitude;
  const x = (dx: number) => n(blipX + dx * a);
  const y = (dy: number) => n(baseline - dy * a);
  return [
    `M0 ${n(baseline)}H${x(0)}`,
    `Q${x(0.25)} ${y(0.3)} ${x(0.5)} ${y(0)}`, // P
    `H${x(0.75)}L${x(0.85)} ${y(-0.15)}L${x(1.05)} ${y(1)}L${x(1.25)} ${y(-0.35)}L${x(1.4)} ${y(0)}`, // QRS
    `H${x(1.8)}Q${x(2.2)} ${y(0.35)} ${x(2.6)} ${y(0)}`, // T
    `H${n(width)}`,
  ].join('');
}

/**
 * The trace with its phosphor glow and the sweep's bright head. The glow filter is sized on the
 * whole drawing: with the default filter region (the path's box, nearly flat) the blur would be
 * cut off a few units above and below the line.
 */
export function trace(options: {
  id: string;
  path: string;
  colour: string;
  width: number;
  height: number;
  strokeWidth: number;
  head: { x: number; y: number };
}): string {
  const { id, path, colour, width, height, strokeWidth, head } = options;
  return (
    `<defs><filter id="${id}-glow" filterUnits="userSpaceOnUse" x="0" y="0" width="${n(width)}" height="${n(height)}">` +
    `<feGaussianBlur stdDeviation="${n(strokeWidth * 2.2)}"/></filter>` +
    `<linearGradient id="${id}-fade" gradientUnits="userSpaceOnUse" x1="0" y1="0" x2="${n(width)}" y2="0">` +
    `<stop offset="0" stop-color="${colour}" stop-opacity="0.95"/>` +
    `<stop offset="${n(head.x / width)}" stop-color="${colour}" stop-opacity="0.8"/>` +
    `<stop offset="1" stop-color="${colour}" stop-opacity="0.3"/></linearGradient></defs>` +
    `<path d="${path}" fill="none" stroke="${colour}" stroke-opacity="0.45" stroke-width="${n(strokeWidth * 2.5)}" ` +
    `stroke-linejoin="round" filter="url(#${id}-glow)"/>` +
    `<path d="${path}" fill="none" stroke="url(#${id}-fade)" stroke-width="${n(strokeWidth)}" ` +
    `stroke-linejoin="round" stroke-linecap="round"/>` +
    `<circle cx="${n(head.x)}" cy="${n(head.y)}" r="${n(strokeWidth * 3)}" fill="${colour}" fill-opacity="0.5" filter="url(#${id}-glow)"/>` +
    `<circle cx="${n(head.x)}" cy="${n(head.y)}" r="${n(strokeWidth * 1.3)}" fill="${colour}"/>`
  );
}

/** Darker corners, as on a CRT. */
export function vignette(id: string, width: number, height: number): string {
  return (
    `<defs><radialGradient id="${id}-vignette" cx="0.5" cy="0.5" r="0.75">` +
    `<stop offset="0.55" stop-color="#000000" stop-opacity="0"/>` +
    `<stop offset="1" stop-color="#000000" stop-opacity="0.35"/></radialGradient></defs>` +
    `<rect width="${n(width)}" height="${n(height)}" fill="url(#${id}-vignette)"/>`
  );
}

export function textLines(lines: readonly LaidOutLine[], colour: string): string {
  return lines
    .map(
      (l) =>
        `<text x="${n(l.centreX)}" y="${n(l.baseline)}" font-family="${FONT_FAMILY}" ` +
        `font-weight="${l.weight === 'bold' ? 700 : 400}" font-size="${n(l.size)}" text-anchor="middle" ` +
        `fill="${colour}"${l.opacity < 1 ? ` fill-opacity="${n(l.opacity)}"` : ''}>${escapeXml(l.text)}</text>`,
    )
    .join('');
}

/** An SVG document drawn in `viewWidth` × `viewHeight` units and rendered at the output size. */
export function svgDocument(
  size: { width: number; height: number },
  view: { width: number; height: number },
  body: string,
): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ` +
    `width="${size.width}" height="${size.height}" viewBox="0 0 ${view.width} ${view.height}">${body}</svg>`
  );
}
