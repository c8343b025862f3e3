// Checks a read element tree against the CAP 1.2 rules (CAP 1.1 too, which has the same shape)
// and builds a CapAlert. Unlike reading, checking goes on after a problem, so the sender learns
// everything wrong in one round trip. Messages name CAP's elements and values, never the
// sender's: an error answer must not echo the request body.
import { CapError, type CapProblem } from './errors.ts';
import { parseCircle, parsePolygon, type CapShape } from './geometry.ts';
import {
  CAP_NAMESPACE,
  CAP_NAMESPACES,
  CATEGORIES,
  CERTAINTIES,
  MSG_TYPES,
  SCOPES,
  SEVERITIES,
  STATUSES,
  URGENCIES,
  type CapAlert,
  type CapCategory,
  type CapInfoBlock,
  type CapNamedValue,
  type CapReference,
  type CapResponseType,
  type CapVersion,
  RESPONSE_TYPES,
} from './types.ts';
import { DEFAULT_MAX_BYTES, readXml, type XmlElement } from './xml-reader.ts';

export interface ParseCapOptions {
  /** Largest document accepted, in bytes of UTF-8; checked before any parsing. Default 256 KiB. */
  maxBytes?: number;
  /** The transport's charset (HTTP Content-Type), for a document that declares no encoding. */
  charset?: string;
}

/** Longest text accepted per element, in characters (code points). */
export const TEXT_LIMITS: Readonly<Record<string, number>> = {
  headline: 400,
  description: 8000,
  instruction: 8000,
  areaDesc: 8000,
  note: 8000,
  addresses: 8000,
  contact: 2000,
  web: 2000,
  // Geometry and reference lists grow with the alert; the document size limit bounds them.
  references: Number.POSITIVE_INFINITY,
  polygon: Number.POSITIVE_INFINITY,
  circle: Number.POSITIVE_INFINITY,
};
// identifier, sender, event, value… are short by nature; a long one is a mistake or an attack.
const DEFAULT_TEXT_LIMIT = 1000;

/** A child element: `many` may repeat; with `shape` it holds elements, without it holds text. */
interface Field {
  many?: boolean;
  shape?: Shape;
}
type Shape = Readonly<Record<string, Field>>;

const NAMED_VALUE: Shape = { valueName: {}, value: {} };
const AREA: Shape = {
  areaDesc: {},
  polygon: { many: true },
  circle: { many: true },
  geocode: { many: true, shape: NAMED_VALUE },
  altitude: {},
  ceiling: {},
};
const RESOURCE: Shape = {
  resourceDesc: {},
  mimeType: {},
  size: {},
  uri: {},
  derefUri: {},
  digest: {},
};
const INFO: Shape = {
  language: {},
  category: { many: true },
  event: {},
  responseType: { many: true },
  urgency: {},
  severity: {},
  certainty: {},
  audience: {},
  eventCode: { many: true, shape: NAMED_VALUE },
  effective: {},
  onset: {},
  expires: {},
  senderName: {},
  headline: {},
  description: {},
  instruction: {},
  web: {},
  contact: {},
  parameter: { many: true, shape: NAMED_VALUE },
  resource: { many: true, shape: RESOURCE },
  area: { many: true, shape: AREA },
};
const ALERT: Shape = {
  identifier: {},
  sender: {},
  sent: {},
  status: {},
  msgType: {},
  source: {},
  scope: {},
  restriction: {},
  addresses: {},
  code: { many: true },
  note: {},
  references: {},
  incidents: {},
  info: { many: true, shape: INFO },
};

/** Every element name CAP defines: the only names a problem's path may show. */
const CAP_NAMES: ReadonlySet<string> = new Set([
  'alert',
  ...[ALERT, INFO, AREA, RESOURCE, NAMED_VALUE].flatMap((shape) => Object.keys(shape)),
]);

/** A checked element: its path for messages, and its CAP children by name. */
interface Node {
  element: XmlElement;
  path: string;
  children: Map<string, Node[]>;
}

class Checker {
  readonly problems: CapProblem[] = [];
  readonly namespace: string;

  constructor(namespace: string) {
    this.namespace = namespace;
  }

  problem(at: { path: string; element?: XmlElement }, message: string): void {
    const where = at.element === undefined ? {} : { line: at.element.line, column: at.element.column };
    this.problems.push({ path: at.path, message, ...where });
  }

  /** Checks an element's structure against its shape, recursively. */
  node(element: XmlElement, path: string, shape: Shape): Node {
    const children = new Map<string, Node[]>();
    if (element.text.trim() !== '') this.problem({ path, element }, 'unexpected text between elements');
    for (const child of element.children) {
      // Elements of other namespaces (an XML signature, extensions) are not CAP's to judge.
      if (child.uri !== this.namespace) continue;
      const field = Object.hasOwn(shape, child.local) ? shape[child.local] : undefined;
      if (field === undefined) {
        // A CAP name in the wrong place is named; any other name is the sender's text.
        const known = CAP_NAMES.has(child.local);
        this.problem(
          { path: `${path}/${known ? child.local : '*'}`, element: child },
          known ? `<${child.local}> does not belong here in CAP` : 'an element CAP does not define',
        );
        continue;
      }
      const siblings = children.get(child.local) ?? [];
      const childPath =
        field.many === true ? `${path}/${child.local}[${siblings.length + 1}]` : `${path}/${child.local}`;
      if (field.many !== true && siblings.length > 0) {
        this.problem({ path: childPath, element: child }, `<${child.local}> may appear only once`);
        continue;
      }
      const node =
        field.shape === undefined ? this.leaf(child, childPath) : this.node(child, childPath, field.shape);
      siblings.push(node);
      children.set(child.local, siblings);
    }
    return { element, path, children };
  }

  private leaf(element: XmlElement, path: string): Node {
    if (element.children.length > 0) this.problem({ path, element }, 'must contain text only, not elements');
    const limit = TEXT_LIMITS[element.local] ?? DEFAULT_TEXT_LIMIT;
    const length = codePoints(element.text.trim());
    if (length > limit) {
      this.problem({ path, element }, `is ${length} characters long; at most ${limit} are accepted`);
    }
    return { element, path, children: new Map() };
  }

  /** The trimmed text of an optional single child; undefined when absent or empty. */
  text(parent: Node, name: string): string | undefined {
    const value = parent.children.get(name)?.[0]?.element.text.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  /** Where an absent child would have been: its path, at its parent's position. */
  missing(parent: Node, name: string): { path: string; element: XmlElement } {
    return { path: `${parent.path}/${name}`, element: parent.element };
  }

  required(parent: Node, name: string): string | undefined {
    const value = this.text(parent, name);
    if (value === undefined) {
      const present = parent.children.get(name)?.[0];
      if (present === undefined) this.problem(this.missing(parent, name), `<${name}> is required`);
      else this.problem(present, 'is empty; a value is required');
    }
    return value;
  }

  oneOf<T extends string>(
    parent: Node,
    name: string,
    allowed: readonly T[],
    required: boolean,
  ): T | undefined {
    const value = required ? this.required(parent, name) : this.text(parent, name);
    if (value === undefined) return undefined;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problem(at(parent, name), `is not one of ${allowed.join(', ')}`);
    return undefined;
  }

  dateTime(parent: Node, name: string, required: boolean): string | undefined {
    const value = required ? this.required(parent, name) : this.text(parent, name);
    if (value === undefined) return undefined;
    const wrong = dateTimeProblem(value);
    if (wrong === undefined) return value;
    this.problem(at(parent, name), wrong);
    return undefined;
  }

  /** identifier and sender: CAP forbids spaces, commas and the XML-special < and &. */
  token(parent: Node, name: string): string | undefined {
    const value = this.required(parent, name);
    if (value === undefined) return undefined;
    const wrong = tokenProblem(value);
    if (wrong === undefined) return value;
    this.problem(at(parent, name), wrong);
    return undefined;
  }
}

function at(parent: Node, name: string): { path: string; element?: XmlElement } {
  return parent.children.get(name)?.[0] ?? parent;
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

function tokenProblem(value: string): string | undefined {
  if (/[\s,<&]/u.test(value)) return 'must not contain spaces, commas, "<" or "&"';
  return undefined;
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})([+-])(\d{2}):(\d{2})$/;

/** CAP's date-time: exactly YYYY-MM-DDThh:mm:ss±hh:mm, a real calendar date, no "Z". */
function dateTimeProblem(value: string): string | undefined {
  const expected = 'is not a CAP date-time (YYYY-MM-DDThh:mm:ss±hh:mm, UTC as -00:00)';
  const match = DATE_TIME.exec(value);
  if (match === null) return expected;
  const [year, month, day, hour, minute, second, , offsetHour, offsetMinute] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const valid =
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHour <= 14 &&
    offsetMinute <= 59;
  return valid ? undefined : expected;
}

function references(checker: Checker, alert: Node): CapReference[] {
  const value = checker.text(alert, 'references');
  if (value === undefined) return [];
  const found: CapReference[] = [];
  const where = at(alert, 'references');
  for (const [index, triple] of value.split(/\s+/).entries()) {
    const parts = triple.split(',');
    const [sender, identifier, sent] = parts;
    const nth = `reference ${index + 1}`;
    if (parts.length !== 3 || sender === undefined || identifier === undefined || sent === undefined) {
      checker.problem(where, `${nth} is not sender,identifier,sent`);
      continue;
    }
    const wrong =
      (sender === '' || identifier === '' ? 'has an empty sender or identifier' : undefined) ??
      (/[<&]/.test(sender + identifier) ? 'contains "<" or "&"' : undefined) ??
      dateTimeProblem(sent);
    if (wrong !== undefined) {
      checker.problem(where, `${nth}: ${wrong}`);
      continue;
    }
    found.push({ sender, identifier, sent });
  }
  return found;
}

// A host name with at least one dot, then an optional port, path, query or fragment.
const BARE_HOST =
  /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+\.?(?::\d{1,5})?(?:[/?#]\S*)?$/;

function isWebPage(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '';
}

/**
 * The <web> address as a link: only a web page will do (no javascript:, file:, …). Senders often
 * write a bare host ("www.meteo.example/37"), which is repaired with https://; anything else
 * (a relative path, another scheme) is left out. Either way the alert stands, with a warning.
 */
function webAddress(info: Node, warnings: CapProblem[]): string | undefined {
  const node = info.children.get('web')?.[0];
  const value = node?.element.text.trim();
  if (node === undefined || value === undefined || value === '') return undefined;
  if (isWebPage(value)) return value;
  const where = { path: node.path, line: node.element.line, column: node.element.column };
  if (BARE_HOST.test(value) && isWebPage(`https://${value}`)) {
    const repaired = new URL(`https://${value}`).href;
    warnings.push({ ...where, message: `<web> has no scheme: linked as ${repaired}` });
    return repaired;
  }
  warnings.push({
    ...where,
    message: '<web> is not an absolute http(s) address (a relative path or another scheme): left out',
  });
  return undefined;
}

// RFC 3066, which CAP 1.2 names for <language>: a primary tag and optional subtags.
const LANGUAGE = /^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/;

function infoBlock(checker: Checker, info: Node, version: CapVersion): CapInfoBlock | undefined {
  const before = checker.problems.length;
  let language = checker.text(info, 'language') ?? 'en-US';
  if (!LANGUAGE.test(language)) {
    checker.problem(at(info, 'language'), 'is not a language code such as fr or fr-FR');
    language = 'en-US';
  }
  const categories: CapCategory[] = [];
  for (const category of info.children.get('category') ?? []) {
    const value = category.element.text.trim();
    if ((CATEGORIES as readonly string[]).includes(value)) categories.push(value as CapCategory);
    else checker.problem(category, `is not one of ${CATEGORIES.join(', ')}`);
  }
  const responseTypes: CapResponseType[] = [];
  for (const response of info.children.get('responseType') ?? []) {
    const value = response.element.text.trim();
    if ((RESPONSE_TYPES as readonly string[]).includes(value)) responseTypes.push(value as CapResponseType);
    else checker.problem(response, `is not one of ${RESPONSE_TYPES.join(', ')}`);
  }
  const event = checker.required(info, 'event');
  const urgency = checker.oneOf(info, 'urgency', URGENCIES, true);
  const severity = checker.oneOf(info, 'severity', SEVERITIES, true);
  // CAP 1.1 still accepts CAP 1.0's "Very Likely", to be read as "Likely".
  const certainty =
    version === '1.1' && checker.text(info, 'certainty') === 'Very Likely'
      ? 'Likely'
      : checker.oneOf(info, 'certainty', CERTAINTIES, true);
  checker.dateTime(info, 'effective', false);
  checker.dateTime(info, 'onset', false);
  const expires = checker.dateTime(info, 'expires', false);
  for (const pair of info.children.get('eventCode') ?? []) namedValue(checker, pair);
  const parameters = (info.children.get('parameter') ?? []).flatMap((pair) => namedValue(checker, pair));
  for (const resource of info.children.get('resource') ?? []) {
    checker.required(resource, 'resourceDesc');
    checker.required(resource, 'mimeType');
  }
  const warnings: CapProblem[] = [];
  const areas: string[] = [];
  const geocodes: CapNamedValue[] = [];
  const shapes: CapShape[] = [];
  for (const area of info.children.get('area') ?? []) {
    const description = checker.required(area, 'areaDesc');
    if (description !== undefined) areas.push(description);
    for (const geocode of area.children.get('geocode') ?? []) geocodes.push(...namedValue(checker, geocode));
    shapes.push(...areaShapes(area, warnings));
  }
  const web = webAddress(info, warnings);
  if (
    checker.problems.length > before ||
    event === undefined ||
    urgency === undefined ||
    severity === undefined ||
    certainty === undefined
  ) {
    return undefined;
  }
  return {
    language,
    categories,
    event,
    urgency,
    severity,
    certainty,
    ...optional('headline', checker.text(info, 'headline')),
    ...optional('description', checker.text(info, 'description')),
    ...optional('instruction', checker.text(info, 'instruction')),
    ...optional('web', web),
    ...optional('contact', checker.text(info, 'contact')),
    ...optional('expires', expires),
    responseTypes,
    areas,
    geocodes,
    shapes,
    parameters,
    warnings,
  };
}

/**
 * An `<area>`'s polygons and circles. Geometry that cannot be read is left out with a warning,
 * never the alert: its words still reach the public, and a feed watching points says it saw no
 * area there.
 */
function areaShapes(area: Node, warnings: CapProblem[]): CapShape[] {
  const shapes: CapShape[] = [];
  for (const name of ['polygon', 'circle'] as const) {
    for (const node of area.children.get(name) ?? []) {
      const where = { path: node.path, line: node.element.line, column: node.element.column };
      if (node.element.text.trim() === '') {
        warnings.push({ ...where, message: `<${name}> is empty: left out` });
        continue;
      }
      if (name === 'polygon') {
        const read = parsePolygon(node.element.text);
        if ('problem' in read) {
          warnings.push({ ...where, message: `<polygon> ${read.problem}: left out` });
          continue;
        }
        if (read.repaired !== undefined) warnings.push({ ...where, message: `<polygon> ${read.repaired}` });
        shapes.push(read.polygon);
      } else {
        const read = parseCircle(node.element.text);
        if ('problem' in read) {
          warnings.push({ ...where, message: `<circle> ${read.problem}: left out` });
          continue;
        }
        shapes.push(read.circle);
      }
    }
  }
  return shapes;
}

/** The pair, or none when either half is missing (then a problem is recorded). */
function namedValue(checker: Checker, pair: Node): CapNamedValue[] {
  const valueName = checker.required(pair, 'valueName');
  const value = checker.required(pair, 'value');
  return valueName === undefined || value === undefined ? [] : [{ valueName, value }];
}

// exactOptionalPropertyTypes-friendly: an absent field is left out, never set to undefined.
function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/**
 * Parses a CAP 1.2 or 1.1 alert from the network. Throws CapError naming every problem (path like
 * "alert/info[1]/headline", and line:column where known); never returns a partial alert. What
 * was repaired or left out rather than refused is in each info block's `warnings`.
 */
export function parseCap(xml: string | Uint8Array, options: ParseCapOptions = {}): CapAlert {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  return capOfElement(readXml(xml, maxBytes, CAP_NAMES, undefined, options.charset));
}

/** Every element name CAP defines, for the paths of problems in a document that embeds CAP. */
export const CAP_ELEMENT_NAMES = CAP_NAMES;

/** The alert an element tree holds (the document's root, or an <alert> embedded in a feed). */
export function capOfElement(root: XmlElement): CapAlert {
  const version = (Object.entries(CAP_NAMESPACES) as [CapVersion, string][]).find(
    ([, uri]) => uri === root.uri,
  )?.[0];
  if (root.local !== 'alert' || version === undefined) {
    const got = root.uri === '' ? 'in no namespace' : 'in another namespace';
    throw new CapError([
      {
        path: root.local === 'alert' ? 'alert' : '*',
        message:
          root.local === 'alert'
            ? `root element <alert> is ${got}; it must be in ${CAP_NAMESPACE} (or CAP 1.1's)`
            : `root element must be <alert xmlns="${CAP_NAMESPACE}">`,
        line: root.line,
        column: root.column,
      },
    ]);
  }
  const checker = new Checker(CAP_NAMESPACES[version]);
  const alert = checker.node(root, 'alert', ALERT);
  const identifier = checker.token(alert, 'identifier');
  const sender = checker.token(alert, 'sender');
  const sent = checker.dateTime(alert, 'sent', true);
  const status = checker.oneOf(alert, 'status', STATUSES, true);
  const msgType = checker.oneOf(alert, 'msgType', MSG_TYPES, true);
  const scope = checker.oneOf(alert, 'scope', SCOPES, true);
  if (scope === 'Restricted' && checker.text(alert, 'restriction') === undefined) {
    checker.problem(
      checker.missing(alert, 'restriction'),
      '<restriction> is required when scope is Restricted',
    );
  }
  if (scope === 'Private' && checker.text(alert, 'addresses') === undefined) {
    checker.problem(checker.missing(alert, 'addresses'), '<addresses> is required when scope is Private');
  }
  const refs = references(checker, alert);
  const infoNodes = alert.children.get('info') ?? [];
  // <info> is optional in CAP; an Update or a Cancel without one still says something about the
  // alert it references, but an Alert without one says nothing at all.
  if (msgType === 'Alert' && infoNodes.length === 0) {
    checker.problem(checker.missing(alert, 'info'), 'an Alert needs at least one <info> block');
  }
  const infos = infoNodes.map((info) => infoBlock(checker, info, version));

  if (
    checker.problems.length > 0 ||
    identifier === undefined ||
    sender === undefined ||
    sent === undefined ||
    status === undefined ||
    msgType === undefined ||
    scope === undefined
  ) {
    throw new CapError(checker.problems);
  }
  return {
    version,
    identifier,
    sender,
    sent,
    status,
    msgType,
    scope,
    references: refs,
    infos: infos.filter((info) => info !== undefined),
  };
}
