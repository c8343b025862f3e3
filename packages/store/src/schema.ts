import type { Generated } from 'kysely';

/**
 * Table shapes as Kysely sees them. Times are ISO 8601 UTC text; JSON is text (parsed by the
 * repositories), so both dialects store and return exactly the same values.
 */
export interface OrganisationsTable {
  id: string;
  name: string;
  created_at: string;
}

export interface PlansTable {
  organisation_id: string;
  version: number;
  hash: string;
  yaml: string;
  source_name: string;
  applied_at: string;
  applied_by: string;
  diff: string | null;
  /** JSON: the plan document without its posts (0002); null for plans applied before it. */
  settings: string | null;
}

export interface BlobsTable {
  sha256: string;
  media_type: string;
  size: number;
  data: Uint8Array;
}

export interface PostsTable {
  organisation_id: string;
  id: string;
  source: string;
  reply_to_post_id: string | null;
  content: string;
  created_at: string;
  created_by: string;
}

export interface DeliveriesTable {
  id: string;
  organisation_id: string;
  action_key: string;
  post_id: string | null;
  kind: string;
  source: string;
  network: string;
  plan_version: number | null;
  due_at: string;
  priority: number;
  content_hash: string;
  payload: string | null;
  status: string;
  attempts: number;
  last_error: string | null;
  checklist: string | null;
  job_id: string;
  remote_id: string | null;
  url: string | null;
  created_at: string;
  updated_at: string;
  /** 0005: who holds the delivery's lease, its epoch (one more at each claim) and until when. */
  lease_owner: string | null;
  lease_epoch: number | null;
  lease_until: string | null;
}

export interface DeliveryPartsTable {
  delivery_id: string;
  organisation_id: string;
  part: number;
  text: string;
  images: string;
  language: string;
  remote_id: string | null;
  url: string | null;
  remote_ref: string | null;
  published_at: string | null;
  outcome_unknown: number;
  /** Set with outcome_unknown by a re-apply that changed the part: the text the unknown attempt sent. */
  unknown_text: string | null;
  /** Set with unknown_text (ISO instant): X is searched for it from there. */
  unknown_since: string | null;
}

export interface ProfileSnapshotsTable {
  id: Generated<number>;
  organisation_id: string;
  network: string;
  delivery_id: string | null;
  profile: string;
  taken_at: string;
}

export interface ApiTokensTable {
  id: string;
  organisation_id: string;
  name: string;
  role: string;
  hash: string;
  created_at: string;
  created_by: string;
  last_used_at: string | null;
  revoked_at: string | null;
  /** Null only between migration 0004's column and its fill; read as the name then. */
  person: string | null;
}

export interface KvTable {
  organisation_id: string;
  key: string;
  value: string;
  updated_at: string;
}

export interface AuditLogTable {
  seq: number;
  at: string;
  organisation_id: string | null;
  actor: string;
  action: string;
  network: string | null;
  post_id: string | null;
  delivery_id: string | null;
  remote_id: string | null;
  before: string | null;
  after: string | null;
  request_id: string | null;
  job_id: string | null;
  outcome: string;
  error: string | null;
  details: string | null;
  prev_hash: string;
  hash: string;
}

/** One row (id 1): the chain's last seq and hash; locking it serialises appends. */
export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

/** A watched CAP feed's state (migration 0007): conditional-request validators, errors, lease. */
export interface CapFeedsTable {
  organisation_id: string;
  feed_id: string;
  url: string;
  etag: string | null;
  last_modified: string | null;
  polled_at: string | null;
  ok_at: string | null;
  status: string | null;
  last_error: string | null;
  errors: number;
  next_poll_at: string | null;
  lease_owner: string | null;
  lease_until: string | null;
}

/** An alert (sender, identifier) seen in a feed: kept or filtered out, and why. */
export interface CapFeedAlertsTable {
  organisation_id: string;
  feed_id: string;
  sender: string;
  identifier: string;
  sent: string;
  msg_type: string;
  details: string;
  kept: number;
  reason: string;
  post_id: string | null;
  seen_at: string;
}

/** One priced X request (x_usage): micro-dollars, and whether a crisis made it. */
export interface XUsageTable {
  organisation_id: string;
  at: string;
  kind: string;
  count: number;
  cost_micros: number;
  crisis: number;
  delivery_id: string | null;
}

/** An ordinary X delivery held (needs-attention) until X is resumed. */
export interface XHoldsTable {
  delivery_id: string;
  organisation_id: string;
  reason: string;
  held_at: string;
}

/** One reading of an account's follower count (migration 0009). */
export interface FollowerCountsTable {
  organisation_id: string;
  network: string;
  at: string;
  count: number;
}

/** A periodic task of the worker per organisation: its last outcome, when it is next due, its lease. */
export interface WatchTasksTable {
  organisation_id: string;
  task: string;
  ran_at: string | null;
  status: string | null;
  message: string | null;
  next_at: string | null;
  lease_owner: string | null;
  lease_until: string | null;
}

/** One run of an organisation's identity checks: the results as JSON. */
export interface IdentityChecksTable {
  organisation_id: string;
  at: string;
  failed: number;
  results: string;
}

export interface Database {
  organisations: OrganisationsTable;
  plans: PlansTable;
  blobs: BlobsTable;
  posts: PostsTable;
  deliveries: DeliveriesTable;
  delivery_parts: DeliveryPartsTable;
  profile_snapshots: ProfileSnapshotsTable;
  api_tokens: ApiTokensTable;
  kv: KvTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  cap_feeds: CapFeedsTable;
  cap_feed_alerts: CapFeedAlertsTable;
  x_usage: XUsageTable;
  x_holds: XHoldsTable;
  follower_counts: FollowerCountsTable;
  watch_tasks: WatchTasksTable;
  identity_checks: IdentityChecksTable;
}
