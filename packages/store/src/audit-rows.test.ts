// hashOntoRows writes the same rows and hashes as hashOnto then auditToRow, which the chain's
// verification checks against; the entries here cover every field kind and the odd values.
import { describe, expect, it } from 'vitest';
import { auditToRow } from './audit.ts';
import { cleanAudit, hashOnto, hashOntoRows, type PendingAudit } from './repositories/audit.ts';
import type { AuditInput } from './types.ts';

const at = new Date('2026-03-01T10:00:00.123Z');
const head = { seq: 41, hash: 'f'.repeat(64) };

const inputs: AuditInput[] = [
  { actor: 'token:a', action: 'crisis.accepted', outcome: 'ok' },
  {
    organisationId: 'org-a',
    actor: 'token:a',
    action: 'crisis.accepted',
    postId: 'c-1',
    requestId: 'req "quoted" \\ \n',
    outcome: 'ok',
    after: { text: 'Alerte « canicule » 🔥', networks: ['x', 'bluesky'], images: [], z: 1, a: null },
    details: { deliveries: [{ id: 'org-a.c-1.x', parts: 2 }], at: new Date(5), skipped: undefined },
  },
  {
    organisationId: 'org-a',
    actor: 'worker',
    action: 'delivery.failed',
    network: 'mastodon',
    deliveryId: 'd-1',
    remoteId: '123',
    jobId: 'j-1',
    outcome: 'error',
    error: 'lone \ud800 surrogate',
    before: null,
    after: [1, 'two', { b: 2, a: 1 }],
    details: 'a string as details',
  },
  // A field set to null, against its type: hashed the long way, as hashOnto does.
  { actor: 'x', action: 'odd', outcome: 'ok', network: null } as unknown as AuditInput,
  { actor: 'x', action: 'odd', outcome: 'ok', error: 42 } as unknown as AuditInput,
];

describe('hashOntoRows', () => {
  it('gives the rows and hashes of hashOnto and auditToRow', () => {
    const pending: PendingAudit[] = inputs.map((input) => ({ input: cleanAudit(input), at }));
    const expected = hashOnto(head, pending).map(auditToRow);
    const rows = hashOntoRows(head, pending);
    expect(rows).toEqual(expected);
    expect(rows.map((r) => r.seq)).toEqual([42, 43, 44, 45, 46]);
    expect(rows[0]?.prev_hash).toBe(head.hash);
    expect(new Set(rows.map((r) => r.hash)).size).toBe(rows.length);
  });
});
