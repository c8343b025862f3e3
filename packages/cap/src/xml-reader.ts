// Turns untrusted bytes into a small element tree, refusing anything that could make a parser
// do unbounded work or reach outside the document. CAP never needs a DTD, entities of its own or
// processing instructions, so the safe course is to refuse them rather than to tame them.
import { SaxesParser } from 'saxes';

import { CapError, type CapProblem } from './errors.ts';

export const DEFAULT_MAX_BYTES = 256 * 1024;
/** CAP itself nests five deep (alert/info/area/geocode/value); more is an attack or a mistake. */
export const MAX_DEPTH = 16;
export const MAX_ELEMENTS = 2000;

export interface XmlElement {
  uri: string;
  local: string;
  /** Text and CDATA directly inside this element, concatenated. */
  text: string;
  children: XmlElement[];
  line: number;
  column: number;
}

/** Stops the parse at once: the first structural problem makes the rest meaningless. */
class Rejected extends Error {
  readonly problem: CapProblem;
  constructor(problem: CapProblem) {
    super(problem.message);
    this.problem = problem;
  }
}

function reject(message: string, where?: { line: number; column: number }): never {
  throw new CapError([{ path: 'alert', message, ...where }]);
}

function utf8ByteLength(text: string, stopAbove: number): number {
  // Every UTF-16 unit is at least one byte, so a long string is over the limit without counting.
  if (text.length > stopAbove) return text.length;
  return Buffer.byteLength(text, 'utf8');
}

function decode(input: string | Uint8Array, maxBytes: number): string {
  if (typeof input === 'string') {
    const bytes = utf8ByteLength(input, maxBytes);
    if (bytes > maxBytes) reject(`document is larger than ${maxBytes} bytes (${bytes}); nothing was read`);
    // A lone surrogate cannot be encoded as UTF-8: the string did not come from valid text.
    if (!input.isWellFormed()) reject('document is not valid Unicode text (lone surrogate)');
    return input.startsWith('\uFEFF') ? input.slice(1) : input;
  }
  if (input.byteLength > maxBytes) {
    reject(`document is larger than ${maxBytes} bytes (${input.byteLength}); nothing was read`);
  }
  try {
    // fatal: a byte sequence that is not UTF-8 fails instead of turning into U+FFFD, so what we
    // post is exactly what the sender wrote. The BOM, if any, is dropped by the decoder.
    return new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    return reject('document is not valid UTF-8');
  }
}

function position(parser: SaxesParser): { line: number; column: number } {
  // saxes counts columns from 0; editors and humans count from 1.
  return { line: parser.line, column: parser.column + 1 };
}

/** Offset in the text → 1-based line and column, by binary search over the line starts. */
function lineLocator(text: string): (offset: number) => { line: number; column: number } {
  const starts = [0];
  for (const match of text.matchAll(/\r\n?|\n/g)) starts.push(match.index + match[0].length);
  return (offset) => {
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((starts[middle] ?? 0) <= offset) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: offset - (starts[low] ?? 0) + 1 };
  };
}

/**
 * Reads a document into an element tree, or throws CapError with the first problem that stops
 * reading (size, encoding, well-formedness, DTD, processing instruction, depth, element count).
 */
export function readXml(input: string | Uint8Array, maxBytes = DEFAULT_MAX_BYTES): XmlElement {
  const text = decode(input, maxBytes);
  const nul = text.indexOf('\0');
  if (nul >= 0) reject(`document contains a NUL character (at offset ${nul})`);

  const parser = new SaxesParser({ xmlns: true, position: true });
  const open: XmlElement[] = [];
  let root: XmlElement | undefined;
  let elements = 0;
  const stop = (message: string, where = position(parser)): never => {
    throw new Rejected({ path: pathOf(open), message, ...where });
  };

  parser.on('error', (error) => {
    // saxes prefixes "line:column: "; the position is reported separately.
    stop(`not well-formed XML: ${error.message.replace(/^\d+:\d+: /, '')}`);
  });
  parser.on('doctype', () => {
    // A DTD is how entity bombs and external entities (XXE) get in; CAP has no use for one.
    stop('a DOCTYPE is not allowed in a CAP alert (no DTD, no entities)');
  });
  parser.on('processinginstruction', (pi) => {
    stop(`processing instruction <?${pi.target}?> is not allowed; only the XML declaration is`);
  });
  parser.on('xmldecl', (decl) => {
    // The bytes were decoded as UTF-8; a document that says otherwise would be misread.
    if (typeof input !== 'string' && decl.encoding !== undefined && !/^utf-?8$/i.test(decl.encoding)) {
      stop(`encoding "${decl.encoding}" is not supported; send the alert as UTF-8`);
    }
  });
  const locate = lineLocator(text);
  parser.on('opentagstart', (tag) => {
    // The parser is past the name; the tag began at the last "<" before here.
    const where = locate(text.lastIndexOf('<', parser.position - 1));
    elements += 1;
    if (elements > MAX_ELEMENTS) stop(`more than ${MAX_ELEMENTS} elements`, where);
    if (open.length + 1 > MAX_DEPTH) stop(`elements nested more than ${MAX_DEPTH} deep`, where);
    const element: XmlElement = { uri: '', local: tag.name, text: '', children: [], ...where };
    open.at(-1)?.children.push(element);
    root ??= element;
    open.push(element);
  });
  parser.on('opentag', (tag) => {
    const element = open.at(-1);
    if (element !== undefined) {
      element.uri = tag.uri;
      element.local = tag.local;
    }
    if (tag.isSelfClosing) open.pop();
  });
  parser.on('closetag', (tag) => {
    if (!tag.isSelfClosing) open.pop();
  });
  const addText = (chunk: string): void => {
    const element = open.at(-1);
    if (element !== undefined) element.text += chunk;
  };
  parser.on('text', addText);
  parser.on('cdata', addText);

  try {
    parser.write(text).close();
  } catch (error) {
    if (error instanceof Rejected) throw new CapError([error.problem]);
    throw error;
  }
  if (root === undefined) reject('document has no root element', position(parser));
  return root;
}

function pathOf(open: readonly XmlElement[]): string {
  // Only used for structural problems, where a rough location beats none.
  return open.length === 0 ? 'alert' : open.map((element) => element.local).join('/');
}
