/**
 * Where an organisation's exit stands: each action of the applied plan (a post, the dormant
 * profile, the X policy switch) with its state on every network, remote links and errors.
 * Read from the store only, so it answers even while Redis or the networks are away.
 */
import type { Network } from '@sunset/core';
import type { Delivery, DeliveryStatus, Store } from '@sunset/store';

export interface NetworkState {
  deliveryId: string;
  status: DeliveryStatus;
  attempts: number;
  /** Parts published / parts in all (threads). */
  published: number;
  parts: number;
  url?: string;
  /** Every landed part's link, in order. */
  urls: string[];
  lastError?: string;
  checklist?: string[];
}

export interface StatusRow {
  /** `post.<id>`, `profile`, `policy`. */
  key: string;
  kind: Delivery['kind'];
  postId?: string;
  /** ISO 8601 UTC. */
  dueAt: string;
  networks: Partial<Record<Network, NetworkState>>;
}

export interface PlanStatus {
  organisationId: string;
  version?: number;
  appliedAt?: string;
  appliedBy?: string;
  rows: StatusRow[];
  counts: Partial<Record<DeliveryStatus, number>>;
}

function rowKey(d: Delivery): string {
  return d.kind === 'post' ? `post.${d.postId ?? d.id}` : d.kind;
}

export async function planStatus(store: Store, organisationId: string): Promise<PlanStatus> {
  const latest = await store.plans.latest(organisationId);
  const deliveries = await store.deliveries.list({ organisationId, source: 'plan' });
  const rows = new Map<string, StatusRow>();
  const counts: PlanStatus['counts'] = {};
  for (const d of deliveries) {
    const key = rowKey(d);
    let row = rows.get(key);
    if (!row) {
      row = {
        key,
        kind: d.kind,
        ...(d.postId !== undefined ? { postId: d.postId } : {}),
        dueAt: d.dueAt.toISOString(),
        networks: {},
      };
      rows.set(key, row);
    }
    const urls = d.parts.flatMap((p) => (p.url ? [p.url] : []));
    row.networks[d.network] = {
      deliveryId: d.id,
      status: d.status,
      attempts: d.attempts,
      published: d.parts.filter((p) => p.remoteId !== undefined).length,
      parts: d.parts.length,
      ...(d.url !== undefined ? { url: d.url } : {}),
      urls,
      ...(d.lastError !== undefined ? { lastError: d.lastError } : {}),
      ...(d.checklist ? { checklist: d.checklist } : {}),
    };
    counts[d.status] = (counts[d.status] ?? 0) + 1;
  }
  return {
    organisationId,
    ...(latest
      ? { version: latest.version, appliedAt: latest.appliedAt.toISOString(), appliedBy: latest.appliedBy }
      : {}),
    rows: [...rows.values()].sort((a, b) => (a.dueAt < b.dueAt ? -1 : a.dueAt > b.dueAt ? 1 : 0)),
    counts,
  };
}
