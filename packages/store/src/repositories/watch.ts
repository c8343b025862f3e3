/**
 * What the worker watches per organisation: follower counts over time, the identity checks' runs,
 * and the periodic tasks that make them, each with a lease so that one worker at a time runs it
 * however many run. The claim is one conditional update in both dialects.
 */
import type { Selectable } from 'kysely';
import type { Network } from '@sunset/core';
import type { WatchTasksTable } from '../schema.ts';
import type { FollowerCount, IdentityCheckRun, Repositories, WatchTask } from '../types.ts';
import { iso, parse, type RepoContext } from './context.ts';

function taskOfRow(row: Selectable<WatchTasksTable>): WatchTask {
  return {
    organisationId: row.organisation_id,
    task: row.task,
    ...(row.ran_at !== null ? { ranAt: new Date(row.ran_at) } : {}),
    ...(row.status !== null ? { status: row.status } : {}),
    ...(row.message !== null ? { message: row.message } : {}),
    ...(row.next_at !== null ? { nextAt: new Date(row.next_at) } : {}),
  };
}

function resultsOf(text: string): Record<string, unknown>[] {
  const value = parse(text);
  return Array.isArray(value)
    ? value.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null)
    : [];
}

export function watchRepository({ db, now }: RepoContext): Repositories['watch'] {
  return {
    async claim({ organisationId, task, owner, leaseMs }) {
      const t = now();
      await db
        .insertInto('watch_tasks')
        .values({ organisation_id: organisationId, task })
        .onConflict((oc) => oc.columns(['organisation_id', 'task']).doNothing())
        .execute();
      const res = await db
        .updateTable('watch_tasks')
        .set({ lease_owner: owner, lease_until: iso(new Date(t.getTime() + leaseMs)) })
        .where('organisation_id', '=', organisationId)
        .where('task', '=', task)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', iso(t))]))
        .where((eb) => eb.or([eb('next_at', 'is', null), eb('next_at', '<=', iso(t))]))
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return undefined;
      const row = await db
        .selectFrom('watch_tasks')
        .selectAll()
        .where('organisation_id', '=', organisationId)
        .where('task', '=', task)
        .where('lease_owner', '=', owner)
        .executeTakeFirst();
      return row ? taskOfRow(row) : undefined;
    },
    async finish(organisationId, task, owner, outcome) {
      const res = await db
        .updateTable('watch_tasks')
        .set({
          ran_at: iso(now()),
          status: outcome.status,
          message: outcome.message ?? null,
          next_at: iso(outcome.nextAt),
          lease_owner: null,
          lease_until: null,
        })
        .where('organisation_id', '=', organisationId)
        .where('task', '=', task)
        .where('lease_owner', '=', owner)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },
    async tasks(organisationId) {
      const rows = await db
        .selectFrom('watch_tasks')
        .selectAll()
        .where('organisation_id', '=', organisationId)
        .orderBy('task')
        .execute();
      return rows.map(taskOfRow);
    },
    async recordFollowers({ organisationId, network, count }) {
      await db
        .insertInto('follower_counts')
        .values({ organisation_id: organisationId, network, at: iso(now()), count })
        .execute();
    },
    async followers(organisationId, filter = {}) {
      const rows = await db
        .selectFrom('follower_counts')
        .selectAll()
        .where('organisation_id', '=', organisationId)
        .$if(filter.since !== undefined, (w) => w.where('at', '>=', iso(filter.since!)))
        .orderBy('at')
        .orderBy('network')
        .execute();
      return rows.map((r): FollowerCount => ({
        organisationId: r.organisation_id,
        network: r.network as Network,
        at: new Date(r.at),
        count: Number(r.count),
      }));
    },
    async latestFollowers() {
      const rows = await db
        .selectFrom('follower_counts as f')
        .selectAll('f')
        .where(({ eb, selectFrom }) =>
          eb(
            'f.at',
            '=',
            selectFrom('follower_counts as g')
              .select((e) => e.fn.max('g.at').as('at'))
              .whereRef('g.organisation_id', '=', 'f.organisation_id')
              .whereRef('g.network', '=', 'f.network'),
          ),
        )
        .orderBy('f.organisation_id')
        .orderBy('f.network')
        .execute();
      return rows.map((r): FollowerCount => ({
        organisationId: r.organisation_id,
        network: r.network as Network,
        at: new Date(r.at),
        count: Number(r.count),
      }));
    },
    async recordIdentityCheck(run) {
      const at = now();
      await db
        .insertInto('identity_checks')
        .values({
          organisation_id: run.organisationId,
          at: iso(at),
          failed: run.failed,
          results: JSON.stringify(run.results),
        })
        .execute();
      return { ...run, at };
    },
    async identityChecks(organisationId, limit = 30) {
      const rows = await db
        .selectFrom('identity_checks')
        .selectAll()
        .where('organisation_id', '=', organisationId)
        .orderBy('at', 'desc')
        .limit(limit)
        .execute();
      return rows.map((r): IdentityCheckRun => ({
        organisationId: r.organisation_id,
        at: new Date(r.at),
        failed: Number(r.failed),
        results: resultsOf(r.results),
      }));
    },
  };
}
