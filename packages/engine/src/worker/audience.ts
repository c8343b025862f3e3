/**
 * The audience step: the organisation's Bluesky list and starter pack made, or brought in step
 * with the plan (accounts added and removed), through the connector; what it did goes to the
 * audit log. Handles that resolve to no account leave the step needing a person.
 */
import type { Logger } from '@sunset/core';
import type { Connector } from '@sunset/networks';
import { listItemKey } from '@sunset/plan';
import type { Delivery } from '@sunset/store';
import { finishWithAudit, type JobInfo, type ProcessContext, type ProcessResult } from './job.ts';
import { ProfileError } from './profile.ts';

export async function syncAudience(
  ctx: ProcessContext,
  delivery: Delivery,
  connector: Connector,
  job: JobInfo,
  log: Logger,
): Promise<ProcessResult> {
  if (delivery.kind !== 'audience') throw new ProfileError(`delivery ${delivery.id} is not an audience step`);
  if (!connector.syncAudience) {
    throw new ProfileError(
      `${delivery.network} has no starter packs: the audience step runs on Bluesky only`,
    );
  }
  const spec = delivery.payload;
  ctx.gate?.(delivery.network);
  const synced = await connector.syncAudience({
    keys: spec.keys,
    name: spec.name,
    description: spec.description,
    handles: spec.handles,
    itemKey: (did) => listItemKey(delivery.organisationId, did),
  });
  log.info(
    { added: synced.added.length, removed: synced.removed.length, unresolved: synced.unresolved },
    'audience in step on Bluesky',
  );
  const extra = {
    list: synced.listUri,
    starterPack: synced.starterPackUri,
    url: synced.url,
    members: synced.members,
    added: synced.added,
    removed: synced.removed,
    listChanged: synced.listChanged,
    starterPackChanged: synced.starterPackChanged,
    ...(synced.unresolved.length > 0 ? { unresolved: synced.unresolved } : {}),
  };
  if (synced.unresolved.length > 0) {
    const handles = synced.unresolved.map((h) => `@${h}`).join(', ');
    return {
      status: 'needs-attention',
      delivery: await finishWithAudit(ctx.store, delivery, 'needs-attention', job, {
        reason: `the starter pack is made, but ${handles} ${synced.unresolved.length === 1 ? 'is' : 'are'} no Bluesky account: left off the list`,
        checklist: [
          `Check the handles in audience.accounts (${handles}), correct them, and apply the plan again.`,
        ],
        extra,
      }),
    };
  }
  return {
    status: 'published',
    delivery: await finishWithAudit(ctx.store, delivery, 'published', job, { extra }),
  };
}
