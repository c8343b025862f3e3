/**
 * The outbox reconciler: the store is the truth, Redis only the transport. A delivery the store
 * has as queued or sending whose job Redis no longer holds (flushed, evicted, lost with a
 * crashed Redis, or never added because Redis was away during an apply) is enqueued again. A
 * job that ended while its delivery is still open (a crash between the network's answer and
 * the store's update, stalled too often) gets a fresh job id, since BullMQ ignores an add whose
 * id it already holds. Each delivery is looked for in its lane's queue (crisis deliveries in the
 * network's crisis queue) and put back there.
 */
import { NETWORKS, type Logger } from '@sunset/core';
import { laneOf, LANES, nextJobId, type Queues } from '@sunset/queue';
import type { AuditInput, DeliveryHead, Store } from '@sunset/store';

export interface ReconcileResult {
  /** Open deliveries looked at. */
  checked: number;
  /** Enqueued again because Redis had no job for them. */
  requeued: number;
  /** Given a new job because their job had ended while they were still open. */
  renewed: number;
}

/** Open deliveries asked about in one go: Redis answers each with a script, one after the other. */
const CHUNK = 100;

export async function reconcileOutbox(options: {
  store: Store;
  queues: Queues;
  logger?: Logger;
  organisationId?: string;
  /**
   * Awaited after each chunk of CHUNK deliveries: a worker makes its pass wait there while crisis
   * jobs run, so that a pass over thousands of open deliveries never holds a crisis up for long.
   */
  between?: () => Promise<void>;
}): Promise<ReconcileResult> {
  const { store, queues, logger } = options;
  // Heads only (no parts, no payloads): with a backlog of thousands the pass stays light.
  const open = await store.deliveries.listHeads({
    status: ['queued', 'sending'],
    ...(options.organisationId ? { organisationId: options.organisationId } : {}),
  });
  const result: ReconcileResult = { checked: open.length, requeued: 0, renewed: 0 };
  const toEnqueue: DeliveryHead[] = [];
  const chunks = NETWORKS.flatMap((network) =>
    LANES.flatMap((lane) => {
      const all = open.filter((d) => d.network === network && laneOf(d.priority) === lane);
      return Array.from({ length: Math.ceil(all.length / CHUNK) }, (_, k) => ({
        network,
        lane,
        mine: all.slice(k * CHUNK, (k + 1) * CHUNK),
      }));
    }),
  );
  for (const [k, { network, lane, mine }] of chunks.entries()) {
    if (k > 0) await options.between?.();
    const states = await queues.jobStates(
      network,
      mine.map((d) => d.jobId),
      lane,
    );
    if (lane === 'crisis') {
      // A crisis job added before the network had a crisis lane sits in the ordinary queue under
      // the same id: adding a second one would let two workers claim the same delivery.
      const missing = mine
        .filter((d) => (states.get(d.jobId) ?? 'unknown') === 'unknown')
        .map((d) => d.jobId);
      if (missing.length > 0) {
        for (const [id, state] of await queues.jobStates(network, missing, 'ordinary')) {
          if (state !== 'unknown') states.set(id, state);
        }
      }
    }
    for (const d of mine) {
      const state = states.get(d.jobId) ?? 'unknown';
      if (state === 'unknown') {
        await store.audit.append(
          requeuedEntry(d, d.jobId, {
            details: { reason: 'Redis held no job for this open delivery', status: d.status, lane },
          }),
        );
        toEnqueue.push(d);
        result.requeued += 1;
      } else if (state === 'completed' || state === 'failed') {
        const jobId = nextJobId(d.jobId);
        const renewed = await store.transaction(async (tx) => {
          // The job may have finished the delivery between the two reads: look again.
          const now = await tx.deliveries.get(d.id);
          if (!now || now.jobId !== d.jobId || (now.status !== 'queued' && now.status !== 'sending')) {
            return false;
          }
          await tx.deliveries.setJob(d.id, jobId);
          await tx.audit.append(
            requeuedEntry(d, jobId, {
              before: { jobId: d.jobId, jobState: state },
              after: { jobId },
              details: { reason: `its job had ${state} while the delivery was still ${d.status}` },
            }),
          );
          return true;
        });
        if (!renewed) continue;
        toEnqueue.push({ ...d, jobId });
        result.renewed += 1;
      }
    }
  }
  await queues.enqueueMany(toEnqueue);
  if (toEnqueue.length > 0) logger?.warn(result, 'reconciler put back deliveries that Redis did not hold');
  else logger?.debug(result, 'reconciler: every open delivery has its job');
  return result;
}

/** The audit entry of an open delivery put back on its queue under `jobId`. */
function requeuedEntry(
  d: DeliveryHead,
  jobId: string,
  what: Pick<AuditInput, 'before' | 'after' | 'details'>,
): AuditInput {
  return {
    organisationId: d.organisationId,
    actor: 'system',
    action: 'delivery.requeued',
    network: d.network,
    deliveryId: d.id,
    ...(d.postId ? { postId: d.postId } : {}),
    jobId,
    outcome: 'ok',
    ...what,
  };
}
