/**
 * The row mappers: database rows to the store's types and back, the same conversion for a row
 * read and for a row just written (so an insert need not read back what it wrote).
 */
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Network } from '@sunset/core';
import type { Database, DeliveriesTable, DeliveryPartsTable } from '../schema.ts';
import type {
  ApiToken,
  AppliedPlan,
  ClaimedDelivery,
  Delivery,
  DeliveryHead,
  DeliveryImage,
  DeliveryLease,
  DeliveryPart,
  DeliveryStatus,
  NewDelivery,
  Post,
  PostSource,
  ProfileSnapshot,
  TokenRole,
} from '../types.ts';
import { payloadOf, storedProfileOf } from '../payloads.ts';
import { CHUNK, iso, parse, text } from './context.ts';

/** The lease columns of a claimed row, as the claim set them. */
export function leaseOfRow(
  row: Pick<Selectable<DeliveriesTable>, 'lease_owner' | 'lease_epoch' | 'lease_until'>,
) {
  if (row.lease_owner === null || row.lease_epoch === null || row.lease_until === null) return undefined;
  const lease: DeliveryLease = {
    owner: row.lease_owner,
    epoch: Number(row.lease_epoch),
    until: new Date(row.lease_until),
  };
  return lease;
}

export function partFromRow(row: Selectable<DeliveryPartsTable>): DeliveryPart {
  const part: DeliveryPart = {
    part: Number(row.part),
    text: row.text,
    images: JSON.parse(row.images) as DeliveryImage[],
    language: row.language,
    outcomeUnknown: Number(row.outcome_unknown) === 1,
  };
  if (row.unknown_text != null) part.unknownText = row.unknown_text;
  if (row.unknown_since != null) part.unknownSince = new Date(row.unknown_since);
  if (row.remote_id !== null) part.remoteId = row.remote_id;
  if (row.url !== null) part.url = row.url;
  if (row.remote_ref !== null) part.remoteRef = JSON.parse(row.remote_ref) as unknown;
  if (row.published_at !== null) part.publishedAt = new Date(row.published_at);
  return part;
}

export const HEAD_COLUMNS = [
  'id',
  'organisation_id',
  'action_key',
  'post_id',
  'kind',
  'source',
  'network',
  'plan_version',
  'due_at',
  'priority',
  'content_hash',
  'status',
  'job_id',
] as const;

/** What a delivery head and a whole delivery read alike from their row. */
export function headFields(
  row: Pick<Selectable<DeliveriesTable>, (typeof HEAD_COLUMNS)[number]>,
): Omit<DeliveryHead, 'partCount' | 'landedParts' | 'unknownParts'> {
  const d: Omit<DeliveryHead, 'partCount' | 'landedParts' | 'unknownParts'> = {
    id: row.id,
    organisationId: row.organisation_id,
    actionKey: row.action_key,
    kind: row.kind as Delivery['kind'],
    source: row.source as PostSource,
    network: row.network as Network,
    dueAt: new Date(row.due_at),
    priority: Number(row.priority),
    contentHash: row.content_hash,
    status: row.status as DeliveryStatus,
    jobId: row.job_id,
  };
  if (row.post_id !== null) d.postId = row.post_id;
  if (row.plan_version !== null) d.planVersion = Number(row.plan_version);
  return d;
}

export function deliveryFromRow(row: Selectable<DeliveriesTable>, parts: DeliveryPart[]): Delivery {
  const fields = {
    ...headFields(row),
    parts,
    attempts: Number(row.attempts),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
  // payloadOf checks the payload against the kind: what the union type says of them, this makes true.
  const payload = payloadOf(row.id, fields.kind, row.payload === null ? undefined : JSON.parse(row.payload));
  const d = (payload === undefined ? fields : { ...fields, payload }) as Delivery;
  if (row.last_error !== null) d.lastError = row.last_error;
  if (row.checklist !== null) d.checklist = JSON.parse(row.checklist) as string[];
  if (row.remote_id !== null) d.remoteId = row.remote_id;
  if (row.url !== null) d.url = row.url;
  return d;
}

export function headFromRow(
  row: Pick<Selectable<DeliveriesTable>, (typeof HEAD_COLUMNS)[number]> & {
    part_count: string | number | bigint | null;
    landed_count: string | number | bigint | null;
    unknown_count: string | number | bigint | null;
  },
): DeliveryHead {
  return {
    ...headFields(row),
    partCount: Number(row.part_count ?? 0),
    landedParts: Number(row.landed_count ?? 0),
    unknownParts: Number(row.unknown_count ?? 0),
  };
}

export async function withParts(
  db: Kysely<Database>,
  rows: Selectable<DeliveriesTable>[],
): Promise<Delivery[]> {
  const byId = new Map<string, DeliveryPart[]>(rows.map((r) => [r.id, []]));
  const ids = [...byId.keys()];
  for (let i = 0; i < ids.length; i += CHUNK) {
    const parts = await db
      .selectFrom('delivery_parts')
      .selectAll()
      .where('delivery_id', 'in', ids.slice(i, i + CHUNK))
      .orderBy('delivery_id')
      .orderBy('part')
      .execute();
    for (const p of parts) byId.get(p.delivery_id)?.push(partFromRow(p));
  }
  return rows.map((r) => deliveryFromRow(r, byId.get(r.id) ?? []));
}

/** Parts from partsJson (pg hands json over parsed; a string is parsed here). */
export function partsFromJson(value: unknown): DeliveryPart[] {
  const rows = (typeof value === 'string' ? JSON.parse(value) : value) as Selectable<DeliveryPartsTable>[];
  return rows.map(partFromRow);
}

export function withReplyTo(
  delivery: Delivery,
  row: Pick<Selectable<DeliveriesTable>, 'lease_owner' | 'lease_epoch' | 'lease_until'>,
  replyTo: string | null,
): ClaimedDelivery {
  const lease = leaseOfRow(row);
  if (!lease) throw new Error(`delivery ${delivery.id} was claimed without a lease`);
  return replyTo === null ? { ...delivery, lease } : { ...delivery, replyToPostId: replyTo, lease };
}

export function tokenFromRow(row: Selectable<Database['api_tokens']>): ApiToken {
  const t: ApiToken = {
    id: row.id,
    organisationId: row.organisation_id,
    name: row.name,
    person: row.person ?? row.name,
    role: row.role as TokenRole,
    hash: row.hash,
    createdAt: new Date(row.created_at),
    createdBy: row.created_by,
  };
  if (row.last_used_at !== null) t.lastUsedAt = new Date(row.last_used_at);
  if (row.revoked_at !== null) t.revokedAt = new Date(row.revoked_at);
  return t;
}

export function planFromRow(row: Selectable<Database['plans']>): AppliedPlan {
  return {
    organisationId: row.organisation_id,
    version: Number(row.version),
    hash: row.hash,
    yaml: row.yaml,
    sourceName: row.source_name,
    appliedAt: new Date(row.applied_at),
    appliedBy: row.applied_by,
    diff: parse(row.diff),
    ...(row.settings !== null ? { settings: parse(row.settings) } : {}),
  };
}

export function postFromRow(row: Selectable<Database['posts']>): Post {
  const p: Post = {
    organisationId: row.organisation_id,
    id: row.id,
    source: row.source as PostSource,
    content: JSON.parse(row.content) as unknown,
    createdAt: new Date(row.created_at),
    createdBy: row.created_by,
  };
  if (row.reply_to_post_id !== null) p.replyToPostId = row.reply_to_post_id;
  return p;
}

export function snapshotFromRow(row: Selectable<Database['profile_snapshots']>): ProfileSnapshot {
  const s: ProfileSnapshot = {
    id: Number(row.id),
    organisationId: row.organisation_id,
    network: row.network as Network,
    profile: storedProfileOf(Number(row.id), JSON.parse(row.profile)),
    takenAt: new Date(row.taken_at),
  };
  if (row.delivery_id !== null) s.deliveryId = row.delivery_id;
  return s;
}

/** The rows of new deliveries and their parts, as they will read back. */
export function deliveryRows(ds: readonly NewDelivery[], t: string) {
  const rows = ds.map((d): Selectable<DeliveriesTable> => ({
    id: d.id,
    organisation_id: d.organisationId,
    action_key: d.actionKey,
    post_id: d.postId ?? null,
    kind: d.kind,
    source: d.source,
    network: d.network,
    plan_version: d.planVersion ?? null,
    due_at: iso(d.dueAt),
    priority: d.priority,
    content_hash: d.contentHash,
    payload: text(d.payload),
    status: 'queued',
    attempts: 0,
    job_id: d.jobId,
    last_error: null,
    checklist: null,
    remote_id: null,
    url: null,
    created_at: t,
    updated_at: t,
    lease_owner: null,
    lease_epoch: null,
    lease_until: null,
  }));
  const parts = partRows(
    ds.flatMap((d) => d.parts.map((p) => ({ ...p, deliveryId: d.id, organisationId: d.organisationId }))),
  );
  return { rows, parts };
}

/** Built from what was written rather than read back: the same conversion as a read. */
export function deliveriesOf(
  rows: readonly Selectable<DeliveriesTable>[],
  parts: readonly Selectable<DeliveryPartsTable>[],
): Delivery[] {
  const byDelivery = new Map<string, DeliveryPart[]>(rows.map((r) => [r.id, []]));
  for (const p of parts) byDelivery.get(p.delivery_id)?.push(partFromRow(p));
  return rows.map((row) =>
    deliveryFromRow(
      row,
      (byDelivery.get(row.id) ?? []).sort((a, b) => a.part - b.part),
    ),
  );
}

/** Rows of new posts, all created at `at`. */
export function postRows(posts: readonly Omit<Post, 'createdAt'>[], at: string) {
  return posts.map((post): Insertable<Database['posts']> => ({
    organisation_id: post.organisationId,
    id: post.id,
    source: post.source,
    reply_to_post_id: post.replyToPostId ?? null,
    content: JSON.stringify(post.content ?? null),
    created_at: at,
    created_by: post.createdBy,
  }));
}

export function partRows(
  parts: readonly {
    deliveryId: string;
    organisationId: string;
    part: number;
    text: string;
    images: DeliveryImage[];
    language: string;
  }[],
): Selectable<DeliveryPartsTable>[] {
  return parts.map((p) => ({
    delivery_id: p.deliveryId,
    organisation_id: p.organisationId,
    part: p.part,
    text: p.text,
    images: JSON.stringify(p.images),
    language: p.language,
    outcome_unknown: 0,
    unknown_text: null,
    unknown_since: null,
    remote_id: null,
    url: null,
    remote_ref: null,
    published_at: null,
  }));
}

/** One delivery with its parts, read through `q` (the pool or a transaction). */
export async function getDelivery(q: Kysely<Database>, id: string): Promise<Delivery | undefined> {
  const row = await q.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? (await withParts(q, [row]))[0] : undefined;
}
