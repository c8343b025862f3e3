import type { CapProblem } from './errors.ts';
import type { CapShape } from './geometry.ts';

export const CAP_NAMESPACE = 'urn:oasis:names:tc:emergency:cap:1.2';
/** The versions read: CAP 1.1 has the shape of 1.2 (1.2 only added values and tightened rules). */
export const CAP_NAMESPACES = {
  '1.2': CAP_NAMESPACE,
  '1.1': 'urn:oasis:names:tc:emergency:cap:1.1',
} as const;
export type CapVersion = keyof typeof CAP_NAMESPACES;

export const STATUSES = ['Actual', 'Exercise', 'System', 'Test', 'Draft'] as const;
export const MSG_TYPES = ['Alert', 'Update', 'Cancel', 'Ack', 'Error'] as const;
export const SCOPES = ['Public', 'Restricted', 'Private'] as const;
export const CATEGORIES = [
  'Geo',
  'Met',
  'Safety',
  'Security',
  'Rescue',
  'Fire',
  'Health',
  'Env',
  'Transport',
  'Infra',
  'CBRNE',
  'Other',
] as const;
export const URGENCIES = ['Immediate', 'Expected', 'Future', 'Past', 'Unknown'] as const;
export const SEVERITIES = ['Extreme', 'Severe', 'Moderate', 'Minor', 'Unknown'] as const;
export const CERTAINTIES = ['Observed', 'Likely', 'Possible', 'Unlikely', 'Unknown'] as const;
export const RESPONSE_TYPES = [
  'Shelter',
  'Evacuate',
  'Prepare',
  'Execute',
  'Avoid',
  'Monitor',
  'Assess',
  'AllClear',
  'None',
] as const;

export type CapStatus = (typeof STATUSES)[number];
export type CapMsgType = (typeof MSG_TYPES)[number];
export type CapCategory = (typeof CATEGORIES)[number];
export type CapUrgency = (typeof URGENCIES)[number];
export type CapSeverity = (typeof SEVERITIES)[number];
export type CapCertainty = (typeof CERTAINTIES)[number];
export type CapResponseType = (typeof RESPONSE_TYPES)[number];

/** An earlier message this one refers to (an Update or Cancel names the alert it replaces). */
export interface CapReference {
  sender: string;
  identifier: string;
  sent: string;
}

/** A CAP valueName/value pair (a geocode, a parameter), trimmed. */
export interface CapNamedValue {
  valueName: string;
  value: string;
}

/** One `<info>` block: the alert's content in one language. Text is trimmed, otherwise as sent. */
export interface CapInfoBlock {
  /** RFC 3066 code; CAP's default "en-US" when the block has none. */
  language: string;
  categories: CapCategory[];
  event: string;
  urgency: CapUrgency;
  severity: CapSeverity;
  certainty: CapCertainty;
  headline?: string;
  description?: string;
  instruction?: string;
  /** An absolute http(s) address with more information (a bare host repaired with https://). */
  web?: string;
  contact?: string;
  /** When the alert stops being current, as written (CAP date-time with its offset). */
  expires?: string;
  /** AllClear says the event is over. */
  responseTypes: CapResponseType[];
  /** Each `<area>`'s areaDesc, in document order. */
  areas: string[];
  /** Every `<area>`'s geocodes (EMMA_ID, NUTS3, …), in document order. */
  geocodes: CapNamedValue[];
  /** Every `<area>`'s polygons and circles that could be read, in document order. */
  shapes: CapShape[];
  /** The block's `<parameter>`s (MeteoAlarm's awareness_level and awareness_type among them). */
  parameters: CapNamedValue[];
  /** What was repaired or left out of this block rather than refused (a relative <web>). */
  warnings: CapProblem[];
}

export interface CapAlert {
  version: CapVersion;
  identifier: string;
  sender: string;
  /** As written: ISO 8601 with an explicit offset, e.g. "2025-01-20T08:30:00+01:00". */
  sent: string;
  status: CapStatus;
  msgType: CapMsgType;
  scope: string;
  references: CapReference[];
  infos: CapInfoBlock[];
}
