/**
 * What every job step shares: the context the worker builds once, what it knows of the job,
 * and the one way a delivery reaches a final status (with its audit entry, in one transaction).
 */
import type { Logger, Network } from '@sunset/core';
import type { Queues } from '@sunset/queue';
import type { Delivery, DeliveryLease, LeaseRequest, Store } from '@sunset/store';
import type { XPriceTable } from '@sunset/text';
import type { ConnectorRegistry } from './connectors.ts';
import type { NotifyEvent } from '../outbox/notifications.ts';
import type { OrgSettingsCache } from '../outbox/org-settings.ts';

export type ImageSlot = 'banner' | 'avatar';

/** What packages/assets renders; injected so the engine runs (and is tested) with the real one. */
export type ImageRenderer = (request: {
  network: Network;
  slot: ImageSlot;
  spec: { generator: 'flat-ecg' | 'flat-ecg-avatar'; caption?: string; colour?: string };
  organisationName: string;
  whereToFind?: string;
  current?: { data: Uint8Array; mediaType: string };
}) => Promise<{ data: Uint8Array; mediaType: string }>;

export interface ProcessContext {
  store: Store;
  settings: OrgSettingsCache;
  connectors: ConnectorRegistry;
  logger: Logger;
  /** Renders `{ generate: … }` profile images (packages/assets). */
  renderImage?: ImageRenderer;
  /** Where files for people (needs-attention checklists) are written. */
  dataDir: string;
  /**
   * Called just before each request that posts or changes a profile: throws a RateLimitedError
   * while the network's window is closed, so that a job already running when a 429 came back
   * waits for the reset like the queued ones instead of knocking again.
   */
  gate?: (network: Network) => void;
  /**
   * The lease this lane's claims ask for: the worker's name and how long a lease holds unless
   * renewed (the lane's lock duration). Default: this process, 30 s.
   */
  lease?: LeaseRequest;
  /** X's prices as the operator set them (SUNSET_X_PRICES); default X's published ones. */
  xPrices?: XPriceTable;
  /** Producer queues: a crisis that reaches X while X is paused queues the held posts again. */
  queues?: Queues;
  /** Tells the team of an event (notifications.ts); never throws, never waits for the send. */
  notify?: (event: NotifyEvent) => Promise<void>;
}

export interface JobInfo {
  id: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** The lease this attempt's claim took: every result it records names its epoch. */
  lease?: DeliveryLease;
  /** True once a renewal of that lease found it taken over by a later claim. */
  leaseLost?: () => boolean;
}

export type ProcessResult =
  | { status: 'stale' }
  | { status: 'published' | 'skipped' | 'needs-attention' | 'failed'; delivery: Delivery };

/**
 * A delivery's final status with its audit entry, committed together. `delivery` is the job's
 * copy: kept up to date with what the job recorded, it lets the store do it in one statement.
 */
export async function finishWithAudit(
  store: Store,
  delivery: Delivery,
  status: 'published' | 'skipped' | 'needs-attention' | 'failed',
  job: JobInfo,
  details: {
    reason?: string;
    checklist?: string[];
    error?: string;
    extra?: unknown;
    /** The last part, landed just now: recorded in the same transaction as the final status. */
    landed?: { part: number; remoteId: string; url: string; remoteRef?: unknown };
  } = {},
): Promise<Delivery> {
  return store.finishDelivery(
    delivery,
    status,
    {
      // Under the lease this attempt took: a holder whose lease was taken over records nothing.
      ...(job.lease ? { epoch: job.lease.epoch } : {}),
      ...(details.landed ? { landed: details.landed } : {}),
      ...(details.error !== undefined ? { lastError: details.error } : {}),
      ...(details.reason !== undefined && details.error === undefined ? { lastError: details.reason } : {}),
      ...(details.checklist ? { checklist: details.checklist } : {}),
    },
    (done) => ({
      organisationId: delivery.organisationId,
      actor: 'system',
      action: `delivery.${status}`,
      network: delivery.network,
      deliveryId: delivery.id,
      ...(delivery.postId ? { postId: delivery.postId } : {}),
      ...(done.remoteId ? { remoteId: done.remoteId } : {}),
      jobId: job.id,
      outcome: status === 'published' ? 'ok' : status === 'skipped' ? 'skipped' : 'error',
      ...(details.error ? { error: details.error } : {}),
      details: {
        attempt: job.attempt,
        ...(details.reason ? { reason: details.reason } : {}),
        ...(details.checklist ? { checklist: details.checklist } : {}),
        ...(status === 'published'
          ? { parts: done.parts.map((p) => ({ part: p.part, remoteId: p.remoteId, url: p.url })) }
          : {}),
        ...(details.extra !== undefined ? { more: details.extra } : {}),
      },
    }),
  );
}
