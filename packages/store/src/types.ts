/**
 * The store's contract: what the engine, the worker, the API and the CLI may ask of it. The
 * store is the truth (Redis is only the transport), so every state change a job makes goes
 * through here, together with the audit entry that records it, in one transaction.
 *
 * Times are JavaScript Dates in and out (kept as ISO 8601 UTC text with milliseconds in both
 * SQLite and PostgreSQL, which sorts correctly and reads plainly in an audit export).
 *
 * Over 500 lines because it is the whole contract in one place: a caller reads this file, not the
 * repositories/ modules behind it.
 */
import type { Network } from '@sunset/core';

export type Dialect = 'sqlite' | 'postgres';

// --- organisations and plans -------------------------------------------------------------------

export interface Organisation {
  id: string;
  name: string;
  createdAt: Date;
}

export interface AppliedPlan {
  organisationId: string;
  /** 1, 2, 3… per organisation. */
  version: number;
  /** sha256 of the YAML, hex. */
  hash: string;
  yaml: string;
  /** The file name it came from, for messages ("ville-de-tours.yaml"). */
  sourceName: string;
  appliedAt: Date;
  appliedBy: string;
  /** The diff the apply produced, as the engine returned it (JSON). */
  diff: unknown;
  /**
   * The plan's document without its posts (JSON), for readers that need only its settings;
   * absent for plans applied before the store kept it (read the YAML then).
   */
  settings?: unknown;
}

// --- images --------------------------------------------------------------------------------------

/** Image bytes kept by content hash, so the worker never depends on the plan's files. */
export interface Blob {
  sha256: string;
  mediaType: string;
  data: Uint8Array;
}

// --- posts and deliveries (the outbox) -----------------------------------------------------------

/** plan: from an applied plan; ordinary: POST /v1/posts; crisis: POST /v1/crisis. */
export type PostSource = 'plan' | 'ordinary' | 'crisis';

export interface Post {
  organisationId: string;
  /** Plan posts: the plan's post id; API posts: a generated id. Unique per organisation. */
  id: string;
  source: PostSource;
  /** The post this one follows up (crisis Update/Cancel), whose remote posts it replies to. */
  replyToPostId?: string;
  /** Free-form description of what was asked (texts, variants, CAP fields…), JSON. */
  content: unknown;
  createdAt: Date;
  createdBy: string;
}

/**
 * queued: waiting for its time or for a worker. sending: a worker holds it (a crash leaves it
 * so; the next attempt treats it as "maybe sent"). published: every part landed. failed: a
 * permanent error or attempts exhausted. needs-attention: a person must act (checklist).
 * skipped: the policy refused it (X after the sunset). cancelled: removed from the plan.
 */
export type DeliveryStatus =
  'queued' | 'sending' | 'published' | 'failed' | 'needs-attention' | 'skipped' | 'cancelled';

export const FINAL_STATUSES: readonly DeliveryStatus[] = [
  'published',
  'failed',
  'needs-attention',
  'skipped',
  'cancelled',
];

/**
 * post: text (one part, or a thread); profile: the dormant profile; policy: the X switch at sunset;
 * audience: the Bluesky list and starter pack of the plan's audience, made or brought in step.
 */
export type DeliveryKind = 'post' | 'profile' | 'policy' | 'audience';

export interface DeliveryImage {
  sha256: string;
  mediaType: string;
  alt: string;
}

export interface DeliveryPart {
  /** 1-based. */
  part: number;
  text: string;
  images: DeliveryImage[];
  language: string;
  /** Set once this part has landed; a retry resumes after the last published part. */
  remoteId?: string;
  url?: string;
  /** The connector's RemoteRef as JSON (Bluesky needs CIDs to reply). */
  remoteRef?: unknown;
  publishedAt?: Date;
  /**
   * The last attempt at this part ended without knowing whether it landed (X: timeout or
   * reset after sending); the next attempt must reconcile before posting again.
   */
  outcomeUnknown: boolean;
  /**
   * With the mark, when a plan re-apply changed the part since the attempt whose outcome is
   * unknown: the text that attempt sent, which X is searched for (not `text`) before sending.
   */
  unknownText?: string;
  /** With the mark, after a re-apply: no later than the attempt whose outcome is unknown (X is searched from there). */
  unknownSince?: Date;
}

/** What every delivery has, whatever its kind. */
export interface DeliveryFields {
  /**
   * Unique in the deployment and safe as a BullMQ job id (no ":"):
   * `<org>.<actionKey>` for plan actions, `<org>.<postId>.<network>` for API posts.
   */
  id: string;
  organisationId: string;
  /** The plan's action key without its part: `post.<postId>.<network>`, `profile.<network>`, `policy.x`. */
  actionKey: string;
  postId?: string;
  source: PostSource;
  network: Network;
  /** The applied plan version that last wrote it (plan deliveries). */
  planVersion?: number;
  dueAt: Date;
  /** BullMQ priority: lower runs first (crisis 1, ordinary 5, plan 10). */
  priority: number;
  /** sha256 over the parts' content hashes (or the payload's), not the time. */
  contentHash: string;
  parts: DeliveryPart[];
  status: DeliveryStatus;
  attempts: number;
  lastError?: string;
  /** What a person must do when status is needs-attention. */
  checklist?: string[];
  /** The job that currently carries it; a job whose id differs is stale and does nothing. */
  jobId: string;
  /** Remote id and URL of the first part, once published. */
  remoteId?: string;
  url?: string;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * A delivery, its payload typed by its kind: the row mappers check a profile's or a policy's
 * payload when they read it, so that a narrowing on `kind` is all a reader needs.
 */
export type Delivery = DeliveryFields &
  (
    | {
        kind: 'post';
        /** A post's content is in its parts; any payload given is kept as it was (JSON). */
        payload?: unknown;
      }
    | { kind: 'profile'; payload: ProfilePayload }
    | { kind: 'policy'; payload: PolicyPayload }
    | { kind: 'audience'; payload: AudiencePayload }
  );

/** An image of a profile step: kept as it is, a file of the plan (by hash, in blobs) or generated. */
export type StoredImageSpec =
  | { kind: 'keep' }
  | { kind: 'file'; sha256: string; mediaType: string }
  | { kind: 'generate'; generator: 'flat-ecg' | 'flat-ecg-avatar'; caption?: string; colour?: string };

/** A profile delivery's payload: the compiled profile, file images by hash. */
export interface ProfilePayload {
  profile: {
    name?: string;
    bio?: string;
    url?: string;
    location?: string;
    fields?: { name: string; value: string }[];
    banner: StoredImageSpec;
    avatar: StoredImageSpec;
  };
}

/** A policy delivery's payload: what X becomes at the sunset, and the steps left to do by hand. */
export interface PolicyPayload {
  mode: string;
  checklist: string[];
}

/** An audience delivery's payload: the list's and pack's record keys, their name, and the handles. */
export interface AudiencePayload {
  keys: { list: string; starterPack: string };
  name: string;
  description: string;
  handles: string[];
}

/** A delivery as its job takes it, with what that job reads next. */
export type ClaimedDelivery = Delivery & {
  /** The post that this delivery's post answers (a crisis update), when it answers one. */
  replyToPostId?: string;
  /**
   * PostgreSQL, X posts: the part this claim marked "outcome unknown" (the first one not landed,
   * when it had no mark), so that the attempt needs no statement of its own before sending it.
   * Any other mark on `parts` was left by an earlier attempt. An attempt that ends without
   * sending that part clears the mark.
   */
  markedPart?: number;
  /** The lease this claim took: only its epoch may record parts and results (see `deliveries.claim`). */
  lease: DeliveryLease;
};

/** Who may send a delivery now: the holder of its latest claim, until `until` unless renewed. */
export interface DeliveryLease {
  owner: string;
  /** One more at each claim: a write naming an older epoch changes nothing. */
  epoch: number;
  until: Date;
}

/** What a claimant asks for: its name (worker process and job) and how long the lease lasts. */
export interface LeaseRequest {
  owner: string;
  ttlMs: number;
}

/** A delivery's lease as stored, with what a refused claim needs to tell "held" from "stale". */
export interface LeaseState {
  status: DeliveryStatus;
  jobId: string;
  /** Absent before the first claim. */
  lease?: DeliveryLease;
}

/** What plan apply compares with a plan: a delivery's identity, time, content hash, status and job, and how many parts it has. */
export type DeliveryHead = Pick<
  Delivery,
  | 'id'
  | 'organisationId'
  | 'actionKey'
  | 'postId'
  | 'kind'
  | 'source'
  | 'network'
  | 'planVersion'
  | 'dueAt'
  | 'priority'
  | 'contentHash'
  | 'status'
  | 'jobId'
> & {
  partCount: number;
  /** Parts already on the network. */
  landedParts: number;
  /** Parts not landed whose outcome is unknown (X: maybe on X). */
  unknownParts: number;
};

/** What a plan re-apply changes in a delivery (deliveries.replace, replaceMany). */
export type DeliveryChange = Pick<
  NewDelivery,
  'dueAt' | 'priority' | 'contentHash' | 'payload' | 'parts' | 'jobId' | 'planVersion'
>;

export interface NewDelivery {
  id: string;
  organisationId: string;
  actionKey: string;
  postId?: string;
  kind: DeliveryKind;
  source: PostSource;
  network: Network;
  planVersion?: number;
  dueAt: Date;
  priority: number;
  contentHash: string;
  payload?: unknown;
  parts: Omit<DeliveryPart, 'remoteId' | 'url' | 'remoteRef' | 'publishedAt' | 'outcomeUnknown'>[];
  jobId: string;
}

export interface DeliveryFilter {
  organisationId?: string;
  postId?: string;
  network?: Network;
  source?: PostSource;
  status?: DeliveryStatus | DeliveryStatus[];
  /** Only deliveries due at or before this instant. */
  dueBefore?: Date;
  limit?: number;
}

// --- profile snapshots ---------------------------------------------------------------------------

export interface ProfileSnapshot {
  id: number;
  organisationId: string;
  network: Network;
  /** The delivery that took it (the dormant-profile step), if any. */
  deliveryId?: string;
  /** The connector's Profile, images replaced by blob hashes. */
  profile: StoredProfile;
  takenAt: Date;
}

/** A snapshot's image: where the network had it, and its bytes' hash in blobs. */
export interface StoredImage {
  url?: string;
  sha256?: string;
  mediaType?: string;
}

/** A snapshot's profile as stored: the connector's Profile with image bytes moved to blobs. */
export interface StoredProfile {
  name?: string;
  bio?: string;
  url?: string;
  location?: string;
  fields?: { name: string; value: string }[];
  avatar?: StoredImage;
  banner?: StoredImage;
}

// --- API tokens ----------------------------------------------------------------------------------

export type TokenRole = 'admin' | 'planner' | 'editor' | 'crisis' | 'auditor';

export interface ApiToken {
  id: string;
  organisationId: string;
  name: string;
  /**
   * The person who holds it: one person may hold several tokens (a crisis and an admin token),
   * and second-person approval compares persons, not tokens. Tokens made before persons existed
   * have their name as person.
   */
  person: string;
  role: TokenRole;
  /** sha256 of the token, hex; the token itself is never stored. */
  hash: string;
  createdAt: Date;
  createdBy: string;
  lastUsedAt?: Date;
  revokedAt?: Date;
}

// --- the audit log -------------------------------------------------------------------------------

export type AuditOutcome = 'ok' | 'error' | 'skipped' | 'refused';

/** What a caller gives; the store adds seq, time and the hashes. */
export interface AuditInput {
  organisationId?: string;
  /** `token:<name>`, `system`, `cli:<user>`. */
  actor: string;
  /** Dotted verb: plan.applied, delivery.published, delivery.failed, delivery.skipped, profile.snapshot… */
  action: string;
  network?: Network;
  postId?: string;
  deliveryId?: string;
  remoteId?: string;
  before?: unknown;
  after?: unknown;
  requestId?: string;
  jobId?: string;
  outcome: AuditOutcome;
  error?: string;
  /** Anything else worth keeping (diff, checklist, reason), JSON. */
  details?: unknown;
}

export interface AuditEntry extends AuditInput {
  /** 1, 2, 3… over the whole deployment, without gaps. */
  seq: number;
  at: Date;
  /** Hash of the previous entry (64 zeros before the first). */
  prevHash: string;
  /** sha256(prevHash + "\n" + canonical JSON of the entry without its hashes), hex. */
  hash: string;
}

export interface AuditFilter {
  organisationId?: string;
  from?: Date;
  to?: Date;
  actor?: string;
  action?: string;
  network?: Network;
  postId?: string;
  /** Entries with seq greater than this (cursor pagination). */
  afterSeq?: number;
  limit?: number;
}

export interface AuditVerifyResult {
  ok: boolean;
  /** Entries checked. */
  checked: number;
  /** The first entry that does not match, and why. */
  firstBad?: { seq: number; reason: string };
}

// --- repositories --------------------------------------------------------------------------------

/** A watched CAP feed as the store keeps it. */
export interface CapFeedState {
  organisationId: string;
  /** Derived from the URL by the engine: the same address is the same feed across plan versions. */
  feedId: string;
  url: string;
  /** The validators of the last 200 answer, sent back as If-None-Match / If-Modified-Since. */
  etag?: string;
  lastModified?: string;
  polledAt?: Date;
  okAt?: Date;
  status?: 'ok' | 'not-modified' | 'error';
  lastError?: string;
  /** Polls that failed in a row (the back-off grows with it); 0 after a good one. */
  errors: number;
  nextPollAt?: Date;
}

/** One alert (sender, identifier) seen in a feed: kept (a crisis post made) or filtered out, and why. */
export interface CapFeedAlert {
  organisationId: string;
  feedId: string;
  sender: string;
  identifier: string;
  sent: string;
  msgType: string;
  /** What the list shows: event, severity, awareness, areas, headline, expires (engine-shaped JSON). */
  details: Record<string, unknown>;
  kept: boolean;
  reason: string;
  postId?: string;
  seenAt: Date;
}

/** One priced X request; `kind` names its line in the price table (create_reply counts as create). */
export interface XUsageInput {
  organisationId: string;
  kind: 'create' | 'create_reply' | 'create_with_url' | 'create_reply_with_url' | 'read_post' | 'read_user';
  count: number;
  costMicros: number;
  crisis: boolean;
  deliveryId?: string;
}

/** One reading of an account's follower count. */
export interface FollowerCount {
  organisationId: string;
  network: Network;
  at: Date;
  count: number;
}

/** A periodic task of the worker for one organisation ("followers:x", "identity"…). */
export interface WatchTask {
  organisationId: string;
  task: string;
  ranAt?: Date;
  status?: string;
  message?: string;
  nextAt?: Date;
}

/** One run of an organisation's identity checks. */
export interface IdentityCheckRun {
  organisationId: string;
  at: Date;
  /** How many checks failed. */
  failed: number;
  /** The checks' results as the engine made them (check, subject, status, message). */
  results: Record<string, unknown>[];
}

export interface Repositories {
  organisations: {
    ensure(org: { id: string; name: string }): Promise<Organisation>;
    get(id: string): Promise<Organisation | undefined>;
    list(): Promise<Organisation[]>;
    /** Inside a transaction: holds the organisation until commit, so two plan applies never interleave. */
    lock(id: string): Promise<void>;
  };
  plans: {
    latest(organisationId: string): Promise<AppliedPlan | undefined>;
    /** The latest plan's version alone (an index lookup: no YAML, no diff). */
    latestVersion(organisationId: string): Promise<number | undefined>;
    /** Every organisation's latest plan version, in one statement (organisations without a plan are left out). */
    latestVersions(): Promise<Map<string, number>>;
    /** The latest plan's version and YAML hash (no YAML, no diff): enough to tell a re-apply. */
    latestHead(organisationId: string): Promise<{ version: number; hash: string } | undefined>;
    insert(plan: Omit<AppliedPlan, 'version' | 'appliedAt'>): Promise<AppliedPlan>;
    list(organisationId: string): Promise<AppliedPlan[]>;
    /** Stores the diff once the engine has computed it against the new version. */
    setDiff(organisationId: string, version: number, diff: unknown): Promise<void>;
  };
  blobs: {
    /** Keeps the bytes once per hash; a second put of the same hash does nothing. */
    put(blob: Blob): Promise<void>;
    get(sha256: string): Promise<Blob | undefined>;
  };
  posts: {
    insert(post: Omit<Post, 'createdAt'>): Promise<Post>;
    /** Several posts in one multi-row statement, all with the same creation time. */
    insertMany(posts: readonly Omit<Post, 'createdAt'>[]): Promise<Post[]>;
    /** Posts and their new deliveries, together (on PostgreSQL in one statement when it can). */
    insertWithDeliveries(
      posts: readonly Omit<Post, 'createdAt'>[],
      deliveries: readonly NewDelivery[],
    ): Promise<{ posts: Post[]; deliveries: Delivery[] }>;
    get(organisationId: string, id: string): Promise<Post | undefined>;
    /** Newest first; `before` pages on by creation time. */
    list(
      organisationId: string,
      filter?: { source?: PostSource; before?: Date; limit?: number },
    ): Promise<Post[]>;
    /** Replaces what is kept of the request (a crisis post's approval). */
    setContent(organisationId: string, id: string, content: unknown): Promise<void>;
  };
  deliveries: {
    insert(delivery: NewDelivery): Promise<Delivery>;
    /** Many at once (a plan's new posts, a post's networks), in a few multi-row statements. */
    insertMany(deliveries: readonly NewDelivery[]): Promise<Delivery[]>;
    get(id: string): Promise<Delivery | undefined>;
    list(filter: DeliveryFilter): Promise<Delivery[]>;
    /** As list, without the parts' content (their count only), in one statement. */
    listHeads(filter: DeliveryFilter): Promise<DeliveryHead[]>;
    /**
     * The statuses of a post's deliveries, nothing else (whether a crisis is done everywhere); on
     * PostgreSQL's pool the reads asked for while one is under way go together in the next.
     */
    statusesOfPost(organisationId: string, postId: string): Promise<DeliveryStatus[]>;
    /**
     * Takes the delivery for a job: only when its status is queued or sending, `jobId` matches
     * and no other claim's lease still holds; sets sending, counts the attempt and takes a new
     * lease (epoch one more, until now + ttl) in the same statement. Undefined when the job is
     * stale, the delivery is already final, or its lease is held (`leaseOf` tells which).
     */
    claim(id: string, jobId: string, lease: LeaseRequest): Promise<ClaimedDelivery | undefined>;
    /** The delivery's status, job and lease, read after a refused claim. */
    leaseOf(id: string): Promise<LeaseState | undefined>;
    /**
     * Extends the lease of epoch `epoch` to now + ttl while it is still the delivery's latest
     * (and the delivery still sending); false when another claim has taken it since.
     */
    renewLease(id: string, epoch: number, ttlMs: number): Promise<boolean>;
    /**
     * renewLease just before a part leaves for a network without idempotency keys (X): the
     * store's clock right after the renewal (as `Store.clock` reads it), or undefined when the
     * lease was taken over. One statement where renewLease and clock take two.
     */
    renewLeaseForSend(id: string, epoch: number, ttlMs: number): Promise<Date | undefined>;
    /**
     * Records one landed part (and the delivery's remote id/URL when it is part 1). With `epoch`,
     * only while that lease is the latest: false (nothing changed) otherwise. A part found on X
     * with its `unknownText` keeps that text: the store says what X shows.
     */
    partPublished(
      id: string,
      part: number,
      ref: { remoteId: string; url: string; remoteRef?: unknown },
      epoch?: number,
    ): Promise<boolean>;
    /**
     * Marks a part as "outcome unknown" (or clears the mark); with `epoch`, only under that lease.
     * Marking means its current text is being sent: an `unknownText` left by a re-apply goes (X was
     * searched for it first).
     */
    partOutcomeUnknown(id: string, part: number, unknown: boolean, epoch?: number): Promise<void>;
    /**
     * Sets a final status (published, failed, needs-attention, skipped, cancelled); `landed`
     * records the part that has just been published in the same step (as partPublished does).
     */
    finish(
      id: string,
      status: DeliveryStatus,
      details?: {
        lastError?: string;
        checklist?: string[];
        landed?: { part: number; remoteId: string; url: string; remoteRef?: unknown };
        /** Only under this lease: a LeaseLostError (nothing changed) otherwise. */
        epoch?: number;
      },
    ): Promise<Delivery>;
    /**
     * Back to queued after a retryable error, keeping its job, and the lease let go; with
     * `epoch`, only under that lease (otherwise nothing changes).
     */
    retryLater(id: string, lastError: string, epoch?: number): Promise<void>;
    /**
     * Cancels a delivery that is still only waiting (queued). False when it is not (any more): a
     * worker took it meanwhile, or it is done; then it is left as it is.
     */
    cancel(id: string): Promise<boolean>;
    /**
     * Replaces waiting (queued), failed or cancelled deliveries' time, priority, content and
     * parts (plan re-apply), in a few statements, each given its new job id and back to queued
     * (a failed one too): only a delivery still in the status the caller read (`expected`, one of queued,
     * failed, cancelled) is changed, so one a worker has taken since is left as it is. Parts
     * already published are kept as they are. Returns the ids replaced.
     */
    replaceMany(
      changes: readonly { id: string; expected: DeliveryStatus; change: DeliveryChange }[],
    ): Promise<string[]>;
    /** Many cancels at once (see cancel): returns the ids cancelled, those that were still queued. */
    cancelMany(ids: readonly string[]): Promise<string[]>;
    /**
     * Gives a queued delivery a new job id (the reconciler, or a manual retry of a failed one);
     * with `status: 'queued'`, only for a finished delivery, whose lease it lets go.
     */
    setJob(id: string, jobId: string, status?: 'queued'): Promise<void>;
    /** How many deliveries are in each status, per network (for metrics). */
    countByStatus(): Promise<{ network: Network; status: DeliveryStatus; count: number }[]>;
    /** Deliveries whose first part was published at or after `since`, with their times (for metrics). */
    publishedSince(
      since: Date,
    ): Promise<{ network: Network; source: PostSource; createdAt: Date; dueAt: Date; publishedAt: Date }[]>;
  };
  profiles: {
    saveSnapshot(snapshot: Omit<ProfileSnapshot, 'id' | 'takenAt'>): Promise<ProfileSnapshot>;
    latestSnapshot(organisationId: string, network: Network): Promise<ProfileSnapshot | undefined>;
    /** The snapshot a given dormant-profile delivery took, so a retry never snapshots its own change. */
    snapshotOfDelivery(deliveryId: string): Promise<ProfileSnapshot | undefined>;
  };
  tokens: {
    /** Without a person, the token's name is its person (as for tokens made before persons). */
    create(
      token: Omit<ApiToken, 'createdAt' | 'lastUsedAt' | 'revokedAt' | 'person'> & { person?: string },
    ): Promise<ApiToken>;
    findByHash(hash: string): Promise<ApiToken | undefined>;
    /**
     * The token and, read by the same statement, its organisation's latest plan version (undefined
     * when none is applied): an authenticated request then needs no second round trip to know
     * which plan it is judged by.
     */
    findByHashWithPlanVersion(
      hash: string,
    ): Promise<{ token: ApiToken; planVersion: number | undefined } | undefined>;
    list(organisationId: string): Promise<ApiToken[]>;
    revoke(organisationId: string, idOrName: string): Promise<ApiToken | undefined>;
    touch(id: string): Promise<void>;
  };
  /** Key-value state (Bluesky sessions), per organisation. */
  kv: {
    get(organisationId: string, key: string): Promise<string | undefined>;
    set(organisationId: string, key: string, value: string): Promise<void>;
    delete(organisationId: string, key: string): Promise<void>;
  };
  /** CAP feeds watched by the worker, and the alerts seen in them. */
  feeds: {
    /**
     * Takes the feed for one poll when it is due and no other worker holds it (its lease ended):
     * the row is made at the first claim. Undefined when not due or held.
     */
    claim(input: {
      organisationId: string;
      feedId: string;
      url: string;
      owner: string;
      leaseMs: number;
    }): Promise<CapFeedState | undefined>;
    /** Records a poll's outcome and releases the lease; false when `owner` no longer holds it. */
    finish(
      organisationId: string,
      feedId: string,
      owner: string,
      outcome: {
        status: 'ok' | 'not-modified' | 'error';
        etag?: string;
        lastModified?: string;
        error?: string;
        errors: number;
        nextPollAt: Date;
      },
    ): Promise<boolean>;
    list(organisationId: string): Promise<CapFeedState[]>;
    alert(
      organisationId: string,
      feedId: string,
      sender: string,
      identifier: string,
    ): Promise<CapFeedAlert | undefined>;
    /** Keeps what was decided about an alert (a second record of the same alert replaces the first). */
    recordAlert(alert: Omit<CapFeedAlert, 'seenAt'>): Promise<void>;
    /** Newest first. */
    alerts(organisationId: string, filter?: { feedId?: string; limit?: number }): Promise<CapFeedAlert[]>;
  };
  /** What X charged (x_usage) and the ordinary X deliveries held until X is resumed (x_holds). */
  xSpend: {
    record(usage: XUsageInput): Promise<void>;
    /** Micro-dollars charged since `since` (the month's start, say). */
    spentSince(organisationId: string, since: Date): Promise<number>;
    /** Posts created since `since`: originals and replies apart. */
    postsSince(
      organisationId: string,
      since: Date,
    ): Promise<{ originals: number; replies: number; oldest?: Date }>;
    hold(organisationId: string, deliveryId: string, reason: string): Promise<void>;
    /** The held deliveries of an organisation, oldest first. */
    holds(organisationId: string): Promise<{ deliveryId: string; reason: string; heldAt: Date }[]>;
    release(deliveryId: string): Promise<void>;
  };
  /** What the worker watches per organisation: follower counts, identity checks, their tasks. */
  watch: {
    /**
     * Takes the task for one run when it is due and no other worker holds it (its lease ended):
     * the row is made at the first claim. Undefined when not due or held.
     */
    claim(input: {
      organisationId: string;
      task: string;
      owner: string;
      leaseMs: number;
    }): Promise<WatchTask | undefined>;
    /** Records a run's outcome and releases the lease; false when `owner` no longer holds it. */
    finish(
      organisationId: string,
      task: string,
      owner: string,
      outcome: { status: string; message?: string; nextAt: Date },
    ): Promise<boolean>;
    tasks(organisationId: string): Promise<WatchTask[]>;
    recordFollowers(reading: { organisationId: string; network: Network; count: number }): Promise<void>;
    /** Oldest first; `since` leaves out older readings. */
    followers(organisationId: string, filter?: { since?: Date }): Promise<FollowerCount[]>;
    /** Each organisation's newest reading per network (for metrics). */
    latestFollowers(): Promise<FollowerCount[]>;
    recordIdentityCheck(run: Omit<IdentityCheckRun, 'at'>): Promise<IdentityCheckRun>;
    /** Newest first. */
    identityChecks(organisationId: string, limit?: number): Promise<IdentityCheckRun[]>;
  };
  audit: {
    /**
     * Appends one entry to the chain. Inside a transaction it commits or rolls back with it, and
     * takes its place in the chain (seq, hashes) when that transaction commits.
     */
    append(entry: AuditInput): Promise<void>;
    list(filter: AuditFilter): Promise<AuditEntry[]>;
    /** An organisation's entries, up to and with `throughSeq` when given. */
    count(filter: { organisationId: string; throughSeq?: number }): Promise<number>;
    head(): Promise<{ seq: number; hash: string }>;
    /** Each entry's seq, organisation and hash, seq in (afterSeq, throughSeq], in seq order (checkpoints). */
    hashes(range: {
      afterSeq: number;
      throughSeq: number;
      limit: number;
    }): Promise<{ seq: number; organisationId: string | null; hash: string }[]>;
  };
}

export interface Store extends Repositories {
  readonly dialect: Dialect;
  /** Runs `fn` in one transaction: every change and audit entry inside commits together or not at all. */
  transaction<T>(fn: (tx: Repositories) => Promise<T>): Promise<T>;
  /**
   * A delivery's final status and the audit entry that records it, committed together: what
   * `transaction((tx) => tx.deliveries.finish(…) then tx.audit.append(audit(done)))` does.
   * `delivery` is the delivery as its job knows it (as claimed, with the parts recorded since);
   * on PostgreSQL, when that is still what is stored, it takes one statement instead of a
   * transaction's several.
   */
  finishDelivery(
    delivery: Delivery,
    status: DeliveryStatus,
    details: {
      lastError?: string;
      checklist?: string[];
      landed?: { part: number; remoteId: string; url: string; remoteRef?: unknown };
      /** Only under this lease: a LeaseLostError (nothing changed, no audit entry) otherwise. */
      epoch?: number;
    },
    audit: (done: Delivery) => AuditInput,
  ): Promise<Delivery>;
  /**
   * New posts, their deliveries and the audit entries that record them (in this order, at the
   * end of the chain), committed together: what `transaction((tx) => tx.posts.insertWithDeliveries(…)
   * then tx.audit.append(…) for each)` does, the posts' image `blobs` put first. On PostgreSQL,
   * when this process knows the chain head and there are no blobs, one statement instead of a
   * transaction's four round trips.
   */
  insertPostsAudited(
    posts: readonly Omit<Post, 'createdAt'>[],
    deliveries: readonly NewDelivery[],
    audits: readonly AuditInput[],
    blobs?: readonly { sha256: string; mediaType: string; data: Uint8Array }[],
  ): Promise<{ posts: Post[]; deliveries: Delivery[] }>;
  /** Recomputes the whole chain, in batches; `onProgress` gets the count checked so far. */
  verifyAudit(options?: {
    onProgress?: (checked: number) => void;
    batchSize?: number;
  }): Promise<AuditVerifyResult>;
  /**
   * The current instant by the store's clock, read at each call: PostgreSQL's clock_timestamp()
   * (one short query), so that a host whose clock is off cannot move it; SQLite runs on this
   * host, whose clock is then the store's clock.
   */
  clock(): Promise<Date>;
  /** True when the database answers (for /readyz). */
  ping(): Promise<boolean>;
  /**
   * What the database's own upkeep lacks for this store's workload, one sentence each, for the
   * services to log at start: on PostgreSQL, autovacuum turned off for the server or for the
   * deliveries table. Nothing on SQLite.
   */
  upkeepWarnings(): Promise<string[]>;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /**
   * `postgres://…` or `postgresql://…` for PostgreSQL; otherwise a SQLite file path (or
   * `sqlite:<path>`, or `:memory:`). Default for services: `./data/sunset.db`.
   */
  url: string;
  /** Run pending migrations on open (default true). */
  migrate?: boolean;
  /** PostgreSQL: a schema to use instead of public (tests give each run its own). */
  schema?: string;
  /** PostgreSQL: connections in the pool at most (default 10). */
  poolSize?: number;
  /**
   * PostgreSQL: claim statements under way at once (default 1: each carries every claim asked
   * for while the one before ran, the fewest statements for a busy worker). The crisis lane's
   * store takes one per network, so that a crisis's claims on X and Mastodon go side by side.
   */
  claimsAtOnce?: number;
  /**
   * PostgreSQL: connections opened at once and kept however long they sit idle (default 0). A
   * connection opened when a crisis comes costs a new server process and its authentication, tens
   * of milliseconds on a busy machine, and the pool closes what has been idle for
   * `idleTimeoutMs`: crises are rare, so without this each one would find its pool empty.
   */
  keepConnections?: number;
  /** PostgreSQL: an idle connection above `keepConnections` is closed after this long (default 10 s). */
  idleTimeoutMs?: number;
  /** PostgreSQL: the name the connections give the server (pg_stat_activity.application_name). */
  applicationName?: string;
}
