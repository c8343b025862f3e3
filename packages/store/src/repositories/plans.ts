/** The applied plans: every version of every organisation's plan, as it was applied. */
import type { Repositories } from '../types.ts';
import { iso, text, type RepoContext } from './context.ts';
import { planFromRow } from './rows.ts';

export function plansRepository({ db, atomic, now }: RepoContext): Repositories['plans'] {
  return {
    async latest(organisationId) {
      const row = await db
        .selectFrom('plans')
        .selectAll()
        .where('organisation_id', '=', organisationId)
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row ? planFromRow(row) : undefined;
    },
    async latestVersion(organisationId) {
      const row = await db
        .selectFrom('plans')
        .select('version')
        .where('organisation_id', '=', organisationId)
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row ? Number(row.version) : undefined;
    },
    async latestVersions() {
      const rows = await db
        .selectFrom('plans')
        .select(['organisation_id', (eb) => eb.fn.max('version').as('version')])
        .groupBy('organisation_id')
        .orderBy('organisation_id')
        .execute();
      return new Map(rows.map((r) => [r.organisation_id, Number(r.version)]));
    },
    async latestHead(organisationId) {
      const row = await db
        .selectFrom('plans')
        .select(['version', 'hash'])
        .where('organisation_id', '=', organisationId)
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row ? { version: Number(row.version), hash: row.hash } : undefined;
    },
    insert(plan) {
      return atomic(async (q) => {
        const last = await q
          .selectFrom('plans')
          .select((eb) => eb.fn.max('version').as('v'))
          .where('organisation_id', '=', plan.organisationId)
          .executeTakeFirst();
        const version = Number(last?.v ?? 0) + 1;
        const appliedAt = now();
        await q
          .insertInto('plans')
          .values({
            organisation_id: plan.organisationId,
            version,
            hash: plan.hash,
            yaml: plan.yaml,
            source_name: plan.sourceName,
            applied_at: iso(appliedAt),
            applied_by: plan.appliedBy,
            diff: text(plan.diff),
            settings: text(plan.settings),
          })
          .execute();
        return { ...plan, version, appliedAt };
      });
    },
    async list(organisationId) {
      const rows = await db
        .selectFrom('plans')
        .selectAll()
        .where('organisation_id', '=', organisationId)
        .orderBy('version')
        .execute();
      return rows.map(planFromRow);
    },
    async setDiff(organisationId, version, diff) {
      await db
        .updateTable('plans')
        .set({ diff: text(diff) })
        .where('organisation_id', '=', organisationId)
        .where('version', '=', version)
        .execute();
    },
  };
}
