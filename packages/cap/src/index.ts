export { parseCap, TEXT_LIMITS, type ParseCapOptions } from './parse.ts';
export {
  awarenessOf,
  awarenessRank,
  awarenessText,
  parseCapFeed,
  ATOM_NAMESPACE,
  FEED_MAX_BYTES,
  type Awareness,
  type CapFeed,
  type CapFeedEntry,
} from './feed.ts';
export {
  chooseInfo,
  capLanguages,
  capNoticeText,
  capText,
  capKey,
  type CapTextOptions,
  type InfoChoice,
} from './text.ts';
export { CapError, type CapProblem } from './errors.ts';
export {
  containsPoint,
  distanceKm,
  parsePoint,
  type CapCircle,
  type CapPolygon,
  type CapShape,
  type LatLon,
} from './geometry.ts';
export { charsetOf, DEFAULT_MAX_BYTES, MAX_DEPTH, MAX_ELEMENTS } from './xml-reader.ts';
export {
  CAP_NAMESPACE,
  CAP_NAMESPACES,
  RESPONSE_TYPES,
  STATUSES,
  MSG_TYPES,
  SCOPES,
  CATEGORIES,
  URGENCIES,
  SEVERITIES,
  CERTAINTIES,
  type CapAlert,
  type CapInfoBlock,
  type CapNamedValue,
  type CapReference,
  type CapStatus,
  type CapMsgType,
  type CapCategory,
  type CapUrgency,
  type CapSeverity,
  type CapCertainty,
  type CapResponseType,
  type CapVersion,
} from './types.ts';
