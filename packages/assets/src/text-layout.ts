/**
 * Fits blocks of text (organisation name, caption, where to find us) into a box: words wrap onto
 * more lines, and when the lines do not fit every block shrinks together, step by step. Widths come
 * from the font's own advance widths, so what is computed here is what resvg draws.
 */
import { drawable, fontMetrics, textWidth, type FontWeight } from './font.ts';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface TextBlock {
  text: string;
  weight: FontWeight;
  /** Font size at full scale, in the drawing's units. */
  size: number;
  /** Most lines the block may take before everything shrinks. */
  maxLines: number;
  /** Smallest fraction of `size` the block may shrink to while the others shrink further. */
  minScale?: number;
  opacity?: number;
}

export interface LaidOutLine {
  text: string;
  weight: FontWeight;
  size: number;
  opacity: number;
  /** Centre of the line, where `text-anchor="middle"` puts it. */
  centreX: number;
  baseline: number;
  width: number;
  /** The line's box: advance width × (ascender to descender). */
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export interface TextLayout {
  box: Box;
  scale: number;
  lines: LaidOutLine[];
}

const LINE_HEIGHT = 1.22;
const MIN_SCALE = 0.3;
const SCALE_STEP = 0.04;
const ELLIPSIS = '…';

/**
 * French typography keeps « » : ; ! ? on the line of the word they belong to: the space between
 * them is made non-breaking, so a line never starts with » or ends with «.
 */
function bindPunctuation(text: string): string {
  return text.replace(/« /g, '«\u00a0').replace(/ ([»:;!?])/g, '\u00a0$1');
}

/** Splits `text` into lines no wider than `width`; a word wider than the line is cut into pieces. */
export function wrap(text: string, size: number, weight: FontWeight, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of bindPunctuation(text).split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ').filter(Boolean)) {
      const candidate = line ? `${line} ${word}` : word;
      if (textWidth(candidate, size, weight) <= width) {
        line = candidate;
        continue;
      }
      if (line) lines.push(line);
      // A URL or a run of characters with no space: break it where it meets the edge.
      let piece = '';
      for (const ch of word) {
        if (piece && textWidth(piece + ch, size, weight) > width) {
          lines.push(piece);
          piece = '';
        }
        piece += ch;
      }
      line = piece;
    }
    if (line) lines.push(line);
  }
  return lines;
}

function sizeAt(block: TextBlock, scale: number): number {
  return block.size * Math.max(scale, block.minScale ?? 0);
}

/** Lays out `blocks` top to bottom, centred in `box`, at the largest scale at which all fit. */
export function fitBlocks(blocks: readonly TextBlock[], box: Box, gap: number): TextLayout {
  const present = blocks
    .map((b) => ({ ...b, text: drawable(b.text, b.weight) }))
    .filter((b) => b.text.length > 0);

  let scale = 1;
  let wrapped: string[][] = [];
  for (; ; scale = Math.max(MIN_SCALE, scale - SCALE_STEP)) {
    wrapped = present.map((b) => wrap(b.text, sizeAt(b, scale), b.weight, box.width));
    const withinLines = wrapped.every((lines, i) => lines.length <= (present[i]?.maxLines ?? 1));
    if (withinLines && totalHeight(present, wrapped, scale, gap) <= box.height) break;
    if (scale === MIN_SCALE) {
      wrapped = truncateToFit(present, wrapped, scale, gap, box);
      break;
    }
  }

  const height = totalHeight(present, wrapped, scale, gap);
  let top = box.y + (box.height - height) / 2;
  const centreX = box.x + box.width / 2;
  const lines: LaidOutLine[] = [];
  present.forEach((block, i) => {
    const size = sizeAt(block, scale);
    const m = fontMetrics(block.weight);
    const ascent = (m.ascender * size) / m.unitsPerEm;
    const descent = (-m.descender * size) / m.unitsPerEm;
    // The glyphs' extent sits centred in each line's height.
    const leading = (size * LINE_HEIGHT - ascent - descent) / 2;
    for (const text of wrapped[i] ?? []) {
      const width = textWidth(text, size, block.weight);
      const baseline = top + leading + ascent;
      lines.push({
        text,
        weight: block.weight,
        size,
        opacity: block.opacity ?? 1,
        centreX,
        baseline,
        width,
        left: centreX - width / 2,
        right: centreX + width / 2,
        top: baseline - ascent,
        bottom: baseline + descent,
      });
      top += size * LINE_HEIGHT;
    }
    top += gap * scale;
  });
  return { box, scale, lines };
}

function totalHeight(blocks: readonly TextBlock[], wrapped: string[][], scale: number, gap: number): number {
  const heights = wrapped.map((lines, i) => {
    const block = blocks[i];
    return block ? lines.length * sizeAt(block, scale) * LINE_HEIGHT : 0;
  });
  const used = wrapped.filter((l) => l.length > 0).length;
  return heights.reduce((a, b) => a + b, 0) + Math.max(0, used - 1) * gap * scale;
}

/**
 * Past the smallest legible size, the longest block loses its last lines, the cut marked with an
 * ellipsis: a caption that cannot fit is shortened rather than drawn over the frame.
 */
function truncateToFit(
  blocks: readonly TextBlock[],
  wrapped: string[][],
  scale: number,
  gap: number,
  box: Box,
): string[][] {
  const result = wrapped.map((lines) => [...lines]);
  const over = () =>
    result.some((lines, i) => lines.length > (blocks[i]?.maxLines ?? 1)) ||
    totalHeight(blocks, result, scale, gap) > box.height;
  while (over()) {
    let longest = 0;
    result.forEach((lines, i) => {
      if (lines.length > (result[longest]?.length ?? 0)) longest = i;
    });
    const lines = result[longest];
    const block = blocks[longest];
    if (!lines || !block || lines.length === 0) break;
    lines.pop();
    const last = lines.pop();
    if (last === undefined) continue;
    let cut = last;
    const size = sizeAt(block, scale);
    while (cut && textWidth(cut + ELLIPSIS, size, block.weight) > box.width)
      cut = [...cut].slice(0, -1).join('');
    lines.push(cut.trimEnd() + ELLIPSIS);
  }
  return result;
}
