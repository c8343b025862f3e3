/**
 * A landed part's remote ref as read back from the store. The shape is the connectors'
 * (RemoteRef), but the engine is what stores it in the part and reads it back to reply under it,
 * so the check lives here, beside its one reader.
 */
import type { RemoteRef } from '@sunset/networks';
import type { DeliveryPart } from '@sunset/store';
import { fields, optional, StoredRowError, text } from '../outbox/stored-row.ts';

const strongRef = fields({ uri: text, cid: text });
const remoteRef = fields({
  remoteId: text,
  url: text,
  bluesky: optional(fields({ uri: text, cid: text, root: strongRef })),
});

function isRemoteRef(value: unknown): value is RemoteRef {
  return remoteRef(value, 'remoteRef') === undefined;
}

/** The part's remote ref (undefined when none was kept); a StoredRowError names the delivery, part and field. */
export function remoteRefOf(
  deliveryId: string,
  part: Pick<DeliveryPart, 'part' | 'remoteRef'>,
): RemoteRef | undefined {
  const value = part.remoteRef;
  if (value === undefined || isRemoteRef(value)) return value;
  throw new StoredRowError(
    `delivery ${deliveryId} part ${part.part}`,
    remoteRef(value, 'remoteRef') ?? 'remoteRef',
  );
}
