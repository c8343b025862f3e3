/**
 * CAP feeds: each feed's state, with a lease so that one worker at a time reads it however many
 * run, and the alerts seen in it. The claim is one conditional update in both dialects.
 */
import type { Selectable } from 'kysely';
import type { CapFeedAlertsTable, CapFeedsTable } from '../schema.ts';
import type { CapFeedAlert, CapFeedState, Repositories } from '../types.ts';
import { iso, parse, type RepoContext } from './context.ts';

const STATUSES = ['ok', 'not-modified', 'error'] as const;

function feedOfRow(row: Selectable<CapFeedsTable>): CapFeedState {
  const status = STATUSES.find((s) => s === row.status);
  return {
    organisationId: row.organisation_id,
    feedId: row.feed_id,
    url: row.url,
    ...(row.etag !== null ? { etag: row.etag } : {}),
    ...(row.last_modified !== null ? { lastModified: row.last_modified } : {}),
    ...(row.polled_at !== null ? { polledAt: new Date(row.polled_at) } : {}),
    ...(row.ok_at !== null ? { okAt: new Date(row.ok_at) } : {}),
    ...(status ? { status } : {}),
    ...(row.last_error !== null ? { lastError: row.last_error } : {}),
    errors: Number(row.errors),
    ...(row.next_poll_at !== null ? { nextPollAt: new Date(row.next_poll_at) } : {}),
  };
}

function alertOfRow(row: Selectable<CapFeedAlertsTable>): CapFeedAlert {
  const details = parse(row.details);
  return {
    organisationId: row.organisation_id,
    feedId: row.feed_id,
    sender: row.sender,
    identifier: row.identifier,
    sent: row.sent,
    msgType: row.msg_type,
    details:
      typeof details === 'object' && details !== null && !Array.isArray(details)
        ? (details as Record<string, unknown>)
        : {},
    kept: Number(row.kept) === 1,
    reason: row.reason,
    ...(row.post_id !== null ? { postId: row.post_id } : {}),
    seenAt: new Date(row.seen_at),
  };
}

export function feedsRepository({ db, now }: RepoContext): Repositories['feeds'] {
  return {
    async claim({ organisationId, feedId, url, owner, leaseMs }) {
      const t = now();
      await db
        .insertInto('cap_feeds')
        .values({ organisation_id: organisationId, feed_id: feedId, url, errors: 0 })
        .onConflict((oc) => oc.columns(['organisation_id', 'feed_id']).doNothing())
        .execute();
      const res = await db
        .updateTable('cap_feeds')
        .set({ lease_owner: owner, lease_until: iso(new Date(t.getTime() + leaseMs)), url })
        .where('organisation_id', '=', organisationId)
        .where('feed_id', '=', feedId)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', iso(t))]))
        .where((eb) => eb.or([eb('next_poll_at', 'is', null), eb('next_poll_at', '<=', iso(t))]))
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return undefined;
      const row = await db
        .selectFrom('cap_feeds')
        .selectAll()
        .where('organisation_id', '=', organisationId)
        .where('feed_id', '=', feedId)
        .where('lease_owner', '=', owner)
        .executeTakeFirst();
      return row ? feedOfRow(row) : undefined;
    },
    async finish(organisationId, feedId, owner, outcome) {
      const t = iso(now());
      const res = await db
        .updateTable('cap_feeds')
        .set({
          polled_at: t,
          status: outcome.status,
          errors: outcome.errors,
          next_poll_at: iso(outcome.nextPollAt),
          last_error: outcome.error ?? null,
          lease_owner: null,
          lease_until: null,
          ...(outcome.status === 'error' ? {} : { ok_at: t }),
          // Only a full answer brings new validators; a 304 keeps those it matched.
          ...(outcome.status === 'ok'
            ? { etag: outcome.etag ?? null, last_modified: outcome.lastModified ?? null }
            : {}),
        })
        .where('organisation_id', '=', organisationId)
        .where('feed_id', '=', feedId)
        .where('lease_owner', '=', owner)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },
    async list(organisationId) {
      const rows = await db
        .selectFrom('cap_feeds')
        .selectAll()
        .where('organisation_id', '=', organisationId)
        .orderBy('feed_id')
        .execute();
      return rows.map(feedOfRow);
    },
    async alert(organisationId, feedId, sender, identifier) {
      const row = await db
        .selectFrom('cap_feed_alerts')
        .selectAll()
        .where('organisation_id', '=', organisationId)
        .where('feed_id', '=', feedId)
        .where('sender', '=', sender)
        .where('identifier', '=', identifier)
        .executeTakeFirst();
      return row ? alertOfRow(row) : undefined;
    },
    async recordAlert(alert) {
      const values = {
        sent: alert.sent,
        msg_type: alert.msgType,
        details: JSON.stringify(alert.details),
        kept: alert.kept ? 1 : 0,
        reason: alert.reason,
        post_id: alert.postId ?? null,
        seen_at: iso(now()),
      };
      await db
        .insertInto('cap_feed_alerts')
        .values({
          organisation_id: alert.organisationId,
          feed_id: alert.feedId,
          sender: alert.sender,
          identifier: alert.identifier,
          ...values,
        })
        .onConflict((oc) =>
          oc.columns(['organisation_id', 'feed_id', 'sender', 'identifier']).doUpdateSet(values),
        )
        .execute();
    },
    async alerts(organisationId, filter = {}) {
      let q = db.selectFrom('cap_feed_alerts').selectAll().where('organisation_id', '=', organisationId);
      if (filter.feedId !== undefined) q = q.where('feed_id', '=', filter.feedId);
      const rows = await q
        .orderBy('seen_at', 'desc')
        .orderBy('sent', 'desc')
        .limit(filter.limit ?? 200)
        .execute();
      return rows.map(alertOfRow);
    },
  };
}
