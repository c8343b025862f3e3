export { parseCap, TEXT_LIMITS, type ParseCapOptions } from './parse.ts';
export { pickInfo, capText, capKey, type CapTextOptions } from './text.ts';
export { CapError, type CapProblem } from './errors.ts';
export { DEFAULT_MAX_BYTES, MAX_DEPTH, MAX_ELEMENTS } from './xml-reader.ts';
export {
  CAP_NAMESPACE,
  STATUSES,
  MSG_TYPES,
  SCOPES,
  CATEGORIES,
  URGENCIES,
  SEVERITIES,
  CERTAINTIES,
  type CapAlert,
  type CapInfoBlock,
  type CapReference,
  type CapStatus,
  type CapMsgType,
  type CapCategory,
  type CapUrgency,
  type CapSeverity,
  type CapCertainty,
} from './types.ts';
