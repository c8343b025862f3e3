// Turns untrusted bytes into a small element tree, refusing anything that could make a parser
// do unbounded work or reach outside the document. CAP never needs a DTD or entities of its own,
// so the safe course is to refuse them rather than to tame them; processing instructions (a
// national feed's xml-stylesheet) cannot reach anything here, so they are read past and ignored.
// No message quotes the document: an error answer must never echo what the sender sent.
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
  /** Attributes in no namespace, by local name (an Atom link's href and type). */
  attributes?: Record<string, string>;
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

/** The encodings a CAP document may declare, by every name XML senders use for them. */
type Encoding = 'utf-8' | 'iso-8859-1' | 'us-ascii' | 'windows-1252';
const ENCODING_NAMES: Readonly<Record<string, Encoding>> = {
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  'iso-8859-1': 'iso-8859-1',
  iso_8859_1: 'iso-8859-1',
  'iso_8859-1': 'iso-8859-1',
  iso8859_1: 'iso-8859-1',
  latin1: 'iso-8859-1',
  'latin-1': 'iso-8859-1',
  l1: 'iso-8859-1',
  'us-ascii': 'us-ascii',
  ascii: 'us-ascii',
  // What older Windows servers and editors write for Western European text.
  'windows-1252': 'windows-1252',
  cp1252: 'windows-1252',
  'x-cp1252': 'windows-1252',
};
const UNSUPPORTED_ENCODING =
  'the declared encoding is not supported; send the alert as UTF-8, ISO-8859-1 or windows-1252';

function encodingOf(name: string): Encoding | undefined {
  const key = name.toLowerCase();
  return Object.hasOwn(ENCODING_NAMES, key) ? ENCODING_NAMES[key] : undefined;
}

/** The charset parameter of a Content-Type header ("text/xml; charset=ISO-8859-1"), if any. */
export function charsetOf(contentType: string | null | undefined): string | undefined {
  const found = /;\s*charset\s*=\s*"?([\w.:-]+)"?/i.exec(contentType ?? '')?.[1];
  return found === undefined || found === '' ? undefined : found;
}

/** The encoding the XML declaration names, read from the bytes before they are decoded. */
function declaredEncoding(input: Uint8Array): string | undefined {
  // The declaration is ASCII in every encoding accepted here, and comes first.
  const head = Buffer.from(input.subarray(0, 256))
    .toString('latin1')
    .replace(/^\u00EF\u00BB\u00BF/, '');
  return /^<\?xml\s[^>]*?\bencoding\s*=\s*(["'])([^"']*)\1/.exec(head)?.[2];
}

/**
 * The document's text. Bytes are read as the XML declaration says; without one (nor a byte order
 * mark), as the transport's charset says (`charset`, from an HTTP Content-Type), as servers often
 * serve ISO-8859-1 documents that do not declare it; else as UTF-8. A declaration wins over the
 * transport: servers more often send a default charset than the document's.
 */
function decode(
  input: string | Uint8Array,
  maxBytes: number,
  charset?: string,
): { text: string; encoding?: Encoding } {
  if (typeof input === 'string') {
    const bytes = utf8ByteLength(input, maxBytes);
    if (bytes > maxBytes) reject(`document is larger than ${maxBytes} bytes (${bytes}); nothing was read`);
    // A lone surrogate cannot be encoded as UTF-8: the string did not come from valid text.
    if (!input.isWellFormed()) reject('document is not valid Unicode text (lone surrogate)');
    return { text: input.startsWith('\uFEFF') ? input.slice(1) : input };
  }
  if (input.byteLength > maxBytes) {
    reject(`document is larger than ${maxBytes} bytes (${input.byteLength}); nothing was read`);
  }
  const declared = declaredEncoding(input);
  const bom = input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf;
  const transport = declared === undefined && !bom && charset !== undefined ? charset.trim() : undefined;
  const encoding =
    declared !== undefined ? encodingOf(declared) : transport ? encodingOf(transport) : 'utf-8';
  if (encoding === undefined) {
    reject(
      declared !== undefined
        ? UNSUPPORTED_ENCODING
        : 'the charset of its Content-Type is not supported; send the alert as UTF-8, ISO-8859-1 or windows-1252',
    );
  }
  if (bom && encoding !== 'utf-8')
    reject('document starts with a UTF-8 byte order mark but declares another encoding');
  if (encoding === 'iso-8859-1') {
    // Every byte is a character in ISO-8859-1, the code point of the same number (Node's latin1;
    // the WHATWG decoder would read windows-1252 instead).
    return { text: Buffer.from(input).toString('latin1'), encoding };
  }
  if (encoding === 'windows-1252') {
    return { text: new TextDecoder('windows-1252').decode(input), encoding };
  }
  if (encoding === 'us-ascii' && input.some((byte) => byte > 0x7f)) {
    reject('document declares US-ASCII but holds bytes above 127');
  }
  try {
    // fatal: a byte sequence that is not UTF-8 fails instead of turning into U+FFFD, so what we
    // post is exactly what the sender wrote. The BOM, if any, is dropped by the decoder.
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(input), encoding };
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
 * reading (size, encoding, well-formedness, DTD, depth, element count); a problem's path shows
 * only the element names in `names`, "*" for any other. Bytes are decoded as their XML
 * declaration says (UTF-8, ISO-8859-1, US-ASCII, windows-1252), else as `charset` (the
 * transport's) says, else as UTF-8; a string is taken as is.
 */
export function readXml(
  input: string | Uint8Array,
  maxBytes = DEFAULT_MAX_BYTES,
  names: ReadonlySet<string> = new Set(),
  maxElements = MAX_ELEMENTS,
  charset?: string,
): XmlElement {
  const { text, encoding } = decode(input, maxBytes, charset);
  const nul = text.indexOf('\0');
  if (nul >= 0) reject(`document contains a NUL character (at offset ${nul})`);

  const parser = new SaxesParser({ xmlns: true, position: true });
  const open: XmlElement[] = [];
  let root: XmlElement | undefined;
  let elements = 0;
  const stop = (message: string, where = position(parser)): never => {
    throw new Rejected({ path: pathOf(open, names), message, ...where });
  };

  parser.on('error', (error) => {
    // saxes prefixes "line:column: ", reported separately, and some of its messages end with a
    // name or value from the document after a colon: the kind of fault is kept, never the text.
    const fault = error.message.replace(/^\d+:\d+: /, '').replace(/:\s[\s\S]*$/, '');
    stop(`not well-formed XML: ${fault}`);
  });
  parser.on('doctype', () => {
    // A DTD is how entity bombs and external entities (XXE) get in; CAP has no use for one.
    stop('a DOCTYPE is not allowed in a CAP alert (no DTD, no entities)');
  });
  parser.on('xmldecl', (decl) => {
    // The bytes were decoded by the declaration as read before parsing; should the parser read
    // another one, the text would be misread, so it is refused. A declaration naming no encoding
    // left the choice to the transport's charset or UTF-8, as decode made it.
    if (
      encoding !== undefined &&
      decl.encoding !== undefined &&
      (encodingOf(decl.encoding) ?? 'unsupported') !== encoding
    ) {
      stop(UNSUPPORTED_ENCODING);
    }
  });
  const locate = lineLocator(text);
  parser.on('opentagstart', (tag) => {
    // The parser is past the name; the tag began at the last "<" before here.
    const where = locate(text.lastIndexOf('<', parser.position - 1));
    elements += 1;
    if (elements > maxElements) stop(`more than ${maxElements} elements`, where);
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
      for (const attribute of Object.values(tag.attributes)) {
        if (attribute.uri !== '' || attribute.prefix !== '') continue;
        // No prototype: an attribute named __proto__ is only a name.
        (element.attributes ??= Object.create(null) as Record<string, string>)[attribute.local] =
          attribute.value;
      }
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

function pathOf(open: readonly XmlElement[], names: ReadonlySet<string>): string {
  // Only used for structural problems, where a rough location beats none; a name the caller does
  // not know is the sender's text, shown as "*" (line:column still points at it).
  if (open.length === 0) return names.has('feed') ? 'feed' : 'alert';
  return open.map((element) => (names.has(element.local) ? element.local : '*')).join('/');
}
