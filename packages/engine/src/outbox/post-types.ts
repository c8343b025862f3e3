/** The shapes of a post on its way in (SubmitPostInput) and as the store keeps it (StoredContent). */
import { NETWORKS, type Network } from '@sunset/core';
import type { Post } from '@sunset/store';
import {
  either,
  entriesOf,
  fields,
  flag,
  listOf,
  oneOf,
  optional,
  StoredRowError,
  text,
} from './stored-row.ts';

export interface PostImageInput {
  data: Uint8Array;
  mediaType: string;
  alt: string;
}

/** What CAP 1.2 brought, kept with the post for the record. */
export interface CapInfo {
  identifier: string;
  sender: string;
  sent: string;
  status: 'Actual' | 'Exercise' | 'System' | 'Test' | 'Draft';
  msgType: 'Alert' | 'Update' | 'Cancel' | 'Ack' | 'Error';
  /** `sender,identifier,sent` triples of the alerts this one follows up. */
  references?: string[];
  /** The posted <info> block's <expires>: after it the alert is recorded, not posted or approved. */
  expires?: string;
}

export interface SubmitPostInput {
  organisationId: string;
  source: 'ordinary' | 'crisis';
  text: string;
  variants?: Partial<Record<Network, string>>;
  images?: PostImageInput[];
  /** BCP 47; default the plan's locale. */
  language?: string;
  /** Crisis: the official page to link (default the plan's crisis.link), appended when the text has none. */
  link?: string;
  /** Only these networks (each must be configured in the plan); default the plan's choice. */
  networks?: Network[];
  /** Ordinary posts may be scheduled; default now. */
  at?: Date;
  /** The post this one follows up: its parts are posted as replies under the original's. */
  replyToPostId?: string;
  cap?: CapInfo;
  /**
   * A crisis that a person must approve before it goes out, whatever the plan's crisis.approval
   * (an alert a CAP feed brought, in mode approve).
   */
  awaitApproval?: boolean;
  /**
   * The text is the plan's standard sentence for a CAP Update or Cancel without <info>: it says
   * nothing of its own, so it is never posted in place of an original that did not go out.
   */
  noticeOnly?: boolean;
  /** Told to the sender with the answer: what was repaired or chosen in their stead (a CAP link…). */
  notes?: string[];
  /**
   * A key the client sends again on a retry (Idempotency-Key): the same post, never a second.
   * Keys live in one space per source (ordinary, JSON crisis, CAP, see postIdForKey), and a key
   * sent again with other content is refused (IdempotencyConflictError).
   */
  clientKey?: string;
  /** `token:<name>`, `cli:<user>`. */
  actor: string;
  /** The person behind the actor (a token's person); default the actor's name. */
  person?: string;
  requestId?: string;
  /**
   * The organisation's latest plan version as read when the request arrived (with its token):
   * the post is judged by that plan without reading the version again.
   */
  planVersion?: number;
}

/** Who did something to a post: the person, and the token (or other actor) they used. */
export interface PostActor {
  person: string;
  token: string;
}

export type SubmitState = 'accepted' | 'awaiting-approval' | 'recorded';

export interface SubmitResult {
  postId: string;
  state: SubmitState;
  /** True when the client key matched a post already accepted: nothing new was created. */
  duplicate: boolean;
  deliveries: { network: Network; deliveryId: string; parts: number }[];
  /** Why a network asked for gets nothing (recorded-only CAP statuses…). */
  notes: string[];
}

export interface StoredContent {
  text: string;
  variants?: Partial<Record<Network, string>>;
  images: { sha256: string; mediaType: string; alt: string }[];
  language: string;
  link?: string;
  networks: Network[];
  at: string;
  cap?: CapInfo;
  /** Who sent it (posts stored before persons existed have only the post's createdBy). */
  sentBy?: PostActor;
  /** Set while a crisis post waits for a second person. */
  awaitingApproval?: boolean;
  /** Who changed it after it was sent (PATCH /v1/posts/:id): none of them may approve it. */
  editedBy?: PostActor[];
  /**
   * Withdrawn before it went out: by whom and when (DELETE /v1/posts/:id), or replaced while it
   * awaited approval by the follow-up `supersededBy` (a CAP Update or Cancel).
   */
  cancelled?: { by: PostActor; at: string; supersededBy?: string };
  /** A string (the actor) on posts approved before persons existed. */
  approvedBy?: PostActor | string;
  /** Test, Exercise, Draft: kept for the record, never posted. */
  recordOnly?: boolean;
  clientKey?: string;
  /** sha256 of what the client asked for (requestDigest): a key sent again must ask for the same. */
  requestDigest?: string;
}

const actor = fields({ person: text, token: text });

// Every field of StoredContent, as submitPost and approveCrisis write it.
const storedContent = fields({
  text,
  variants: optional(entriesOf(NETWORKS, text)),
  images: listOf(fields({ sha256: text, mediaType: text, alt: text })),
  language: text,
  link: optional(text),
  networks: listOf(oneOf(NETWORKS)),
  at: text,
  cap: optional(
    fields({
      identifier: text,
      sender: text,
      sent: text,
      status: oneOf(['Actual', 'Exercise', 'System', 'Test', 'Draft']),
      msgType: oneOf(['Alert', 'Update', 'Cancel', 'Ack', 'Error']),
      references: optional(listOf(text)),
      expires: optional(text),
    }),
  ),
  sentBy: optional(actor),
  awaitingApproval: optional(flag),
  editedBy: optional(listOf(actor)),
  cancelled: optional(fields({ by: actor, at: text, supersededBy: optional(text) })),
  approvedBy: optional(either(actor, text)),
  recordOnly: optional(flag),
  clientKey: optional(text),
  requestDigest: optional(text),
});

function isStoredContent(content: unknown): content is StoredContent {
  return storedContent(content, 'content') === undefined;
}

/** A post's content as read from its row, checked: a StoredRowError names the post and the field. */
export function storedContentOf(post: Pick<Post, 'id' | 'content'>): StoredContent {
  if (isStoredContent(post.content)) return post.content;
  throw new StoredRowError(`post ${post.id}`, storedContent(post.content, 'content') ?? 'content');
}
