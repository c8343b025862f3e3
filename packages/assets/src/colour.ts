/** The plan's background colour and the colours drawn on it, chosen for contrast. */
import { InputError } from '@sunset/core';

export const DEFAULT_COLOUR = '#00435c';

export interface Palette {
  background: string;
  /** Caption text. */
  text: string;
  /** The ECG trace and its glow. */
  trace: string;
  /** Grid lines, drawn at low opacity. */
  grid: string;
}

/** "#rrggbb" (the plan schema's form) → [r, g, b]; anything else is refused with a clear message. */
export function parseColour(colour: string): [number, number, number] {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(colour);
  if (!m) throw new InputError(`colour "${colour}" is not a colour of the form "#rrggbb" (e.g. "#00435c")`);
  return [parseInt(m[1] ?? '', 16), parseInt(m[2] ?? '', 16), parseInt(m[3] ?? '', 16)];
}

/** WCAG relative luminance, 0 (black) to 1 (white). */
function luminance([r, g, b]: [number, number, number]): number {
  const lin = (c: number) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/**
 * A monitor look on dark colours (light text, green trace); on a light colour the same drawing in
 * dark ink, since a comms team may well pick its brand's pale colour.
 */
export function paletteFor(colour: string = DEFAULT_COLOUR): Palette {
  const rgb = parseColour(colour);
  const background = colour.toLowerCase();
  return luminance(rgb) > 0.4
    ? { background, text: '#0d1417', trace: '#006b3c', grid: '#000000' }
    : { background, text: '#f4f7f8', trace: '#4be38f', grid: '#ffffff' };
}
