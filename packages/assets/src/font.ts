/**
 * The typeface every image is set in, shipped with the package (DejaVu Sans, from the
 * dejavu-fonts-ttf npm package) so that a render never depends on the machine's fonts, and its
 * advance widths read straight from the TrueType tables so text can be laid out before resvg
 * draws it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ResvgRenderOptions } from '@resvg/resvg-js';

const require = createRequire(import.meta.url);

export const FONT_FAMILY = 'DejaVu Sans';
export type FontWeight = 'regular' | 'bold';

const FONT_FILES: Record<FontWeight, string> = {
  regular: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf'),
  bold: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf'),
};

/** resvg's font settings: only the shipped files, never the system's. */
export const RESVG_FONT: NonNullable<ResvgRenderOptions['font']> = {
  fontFiles: [FONT_FILES.regular, FONT_FILES.bold],
  loadSystemFonts: false,
  defaultFontFamily: FONT_FAMILY,
  sansSerifFamily: FONT_FAMILY,
};

export interface FontMetrics {
  unitsPerEm: number;
  /** Above the baseline, in font units (positive). */
  ascender: number;
  /** Below the baseline, in font units (negative). */
  descender: number;
  /** Glyph id of a code point, 0 when the font has none (it would draw the missing-glyph box). */
  glyphOf(codePoint: number): number;
  advanceOf(glyph: number): number;
}

/** Reads the four tables layout needs (head, hhea, hmtx, cmap); throws on a file that lacks one. */
export function parseFontMetrics(bytes: Uint8Array): FontMetrics {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tables = new Map<string, number>();
  const numTables = view.getUint16(4);
  for (let i = 0; i < numTables; i++) {
    const record = 12 + i * 16;
    const tag = String.fromCharCode(
      view.getUint8(record),
      view.getUint8(record + 1),
      view.getUint8(record + 2),
      view.getUint8(record + 3),
    );
    tables.set(tag, view.getUint32(record + 8));
  }
  const table = (tag: string): number => {
    const offset = tables.get(tag);
    if (offset === undefined) throw new Error(`font has no "${tag}" table`);
    return offset;
  };

  const head = table('head');
  const hhea = table('hhea');
  const hmtx = table('hmtx');
  const unitsPerEm = view.getUint16(head + 18);
  const ascender = view.getInt16(hhea + 4);
  const descender = view.getInt16(hhea + 6);
  const longMetrics = view.getUint16(hhea + 34);

  const advanceOf = (glyph: number): number =>
    // Glyphs past the last long metric share its advance (monospaced runs at the end of hmtx).
    view.getUint16(hmtx + Math.min(glyph, longMetrics - 1) * 4);

  return { unitsPerEm, ascender, descender, glyphOf: cmapLookup(view, table('cmap')), advanceOf };
}

function cmapLookup(view: DataView, cmap: number): (codePoint: number) => number {
  const count = view.getUint16(cmap + 2);
  let format4: number | undefined;
  let format12: number | undefined;
  for (let i = 0; i < count; i++) {
    const record = cmap + 4 + i * 8;
    const platform = view.getUint16(record);
    const encoding = view.getUint16(record + 2);
    const subtable = cmap + view.getUint32(record + 4);
    const format = view.getUint16(subtable);
    const unicode = platform === 0 || (platform === 3 && (encoding === 1 || encoding === 10));
    if (!unicode) continue;
    if (format === 12) format12 ??= subtable;
    else if (format === 4) format4 ??= subtable;
  }

  if (format12 !== undefined) {
    const sub = format12;
    const groups = view.getUint32(sub + 12);
    return (cp) => {
      let lo = 0;
      let hi = groups - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const group = sub + 16 + mid * 12;
        const start = view.getUint32(group);
        const end = view.getUint32(group + 4);
        if (cp < start) hi = mid - 1;
        else if (cp > end) lo = mid + 1;
        else return view.getUint32(group + 8) + (cp - start);
      }
      return 0;
    };
  }
  if (format4 === undefined) throw new Error('font has no Unicode character map');

  const sub = format4;
  const segments = view.getUint16(sub + 6) / 2;
  const endCodes = sub + 14;
  const startCodes = endCodes + segments * 2 + 2;
  const deltas = startCodes + segments * 2;
  const rangeOffsets = deltas + segments * 2;
  return (cp) => {
    if (cp > 0xffff) return 0;
    for (let s = 0; s < segments; s++) {
      if (view.getUint16(endCodes + s * 2) < cp) continue;
      const start = view.getUint16(startCodes + s * 2);
      if (start > cp) return 0;
      const delta = view.getUint16(deltas + s * 2);
      const rangeOffset = view.getUint16(rangeOffsets + s * 2);
      if (rangeOffset === 0) return (cp + delta) & 0xffff;
      // idRangeOffset counts bytes from its own position into glyphIdArray.
      const glyph = view.getUint16(rangeOffsets + s * 2 + rangeOffset + (cp - start) * 2);
      return glyph === 0 ? 0 : (glyph + delta) & 0xffff;
    }
    return 0;
  };
}

const metricsCache = new Map<FontWeight, FontMetrics>();

export function fontMetrics(weight: FontWeight): FontMetrics {
  let metrics = metricsCache.get(weight);
  if (!metrics) {
    metrics = parseFontMetrics(readFileSync(FONT_FILES[weight]));
    metricsCache.set(weight, metrics);
  }
  return metrics;
}

/**
 * Width of `text` at `size` px, from advance widths without kerning: kerning in DejaVu only
 * narrows pairs, so this is a slight over-estimate and laid-out lines never come out wider.
 */
export function textWidth(text: string, size: number, weight: FontWeight): number {
  const m = fontMetrics(weight);
  let units = 0;
  for (const ch of text) units += m.advanceOf(m.glyphOf(ch.codePointAt(0) ?? 0));
  return (units * size) / m.unitsPerEm;
}

const FALLBACKS: Record<string, string> = {
  '\u202f': '\u00a0', // narrow no-break space (French « ») → no-break space
  '\u2009': ' ',
  '\u2011': '-',
};

/**
 * The text as the font can draw it: characters it lacks (emoji, rare scripts) would come out as
 * missing-glyph boxes on a public profile, so they are replaced by a near equivalent or left out.
 */
export function drawable(text: string, weight: FontWeight): string {
  const m = fontMetrics(weight);
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (m.glyphOf(cp) !== 0 || ch === ' ' || ch === '\n') out += ch;
    else {
      const fallback = FALLBACKS[ch];
      if (fallback !== undefined && [...fallback].every((f) => m.glyphOf(f.codePointAt(0) ?? 0) !== 0))
        out += fallback;
    }
  }
  return out.replace(/[ \t]{2,}/g, ' ').trim();
}
